/*
 * main.c - the treepack command line: a thin layer over libtreepack.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"

typedef enum command { CMD_NONE, CMD_COMPRESS, CMD_EXPAND, CMD_INFO, CMD_TEST, CMD_INSPECT } command;

typedef struct cli_opts {
    command cmd;
    const char *output;   /* -o */
    bool to_stdout;       /* -c */
    bool force;           /* -f */
    bool json;            /* --json */
    tp_options lib;
    const char **trusted; /* --trust, for lib.trusted */
} cli_opts;

static const struct {
    const char *name;
    command cmd;
} commands[] = {
    {"compress", CMD_COMPRESS}, {"expand", CMD_EXPAND}, {"info", CMD_INFO}, {"test", CMD_TEST},
    {"inspect", CMD_INSPECT},
};

static void usage(FILE *f)
{
    fputs("Usage: treepack COMMAND [OPTIONS] FILE...\n"
          "Make scikit-learn model pickles small for shipping, and whole again for loading.\n"
          "\n"
          "Commands:\n"
          "  compress FILE...   model.pkl -> model.tpk (exact: expands to the same bytes)\n"
          "  expand FILE...     model.tpk -> the original file, checked against its checksum\n"
          "  info FILE...       what a .tpk holds and where its bytes went\n"
          "  test FILE...       prove that a .tpk expands to its original; writes nothing\n"
          "  inspect FILE...    what loading a pickle or .tpk would import and call, the\n"
          "                     trees and arrays in it, and a verdict against the allowlist\n"
          "\n"
          "Options:\n"
          "  -o FILE            write to FILE (one input only)\n"
          "  -c, --stdout       write to standard output\n"
          "  -f, --force        overwrite existing files; allow binary output to a terminal\n"
          "  -k, --keep         keep the input (always done; accepted for gzip/zstd habits)\n"
          "  -1 .. -19          compression level (default 9); --level=N\n"
          "  -T N, --threads=N  compress with N threads (0: one per core)\n"
          "      --exact=byte   compress: expand gives back the original bytes (default)\n"
          "      --exact=model  compress: vocabularies may be written in sorted order; the\n"
          "                     expanded model equals the original, its bytes differ\n"
          "      --strip LIST   compress, for models that only predict (lossy): comma-separated\n"
          "                     impurity (feature_importances_ no longer meaningful),\n"
          "                     samples (n_node_samples, weighted_n_node_samples; idem),\n"
          "                     stop-words (stop_words_ of text vectorizers emptied)\n"
          "      --json         info, inspect: print JSON\n"
          "      --trust M[.N]  trust module M (and its submodules) or the name M.N\n"
          "      --allow-unsafe do not refuse pickles that import names outside the allowlist\n"
          "      --max-memory=SIZE  memory for reading a pickle (K, M, G suffixes; default 4G)\n"
          "  -q, --quiet        print errors only\n"
          "  -v, --verbose      print more\n"
          "  -h, --help         this help\n"
          "  -V, --version      print the version\n"
          "\n"
          "Exit status: 0 success, 1 a file failed, 2 wrong usage, 3 a pickle was refused\n"
          "(it imports something outside the allowlist; see treepack inspect).\n"
          "See treepack(1) and the format in tpk(5).\n",
          f);
}

/* ---- output names --------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* model.pkl -> model.tpk; anything else gets .tpk appended. */
static char *compressed_name(const char *in)
{
    size_t n = strlen(in);
    char *out = malloc(n + 5);
    if (!out) return NULL;
    if (ends_with(in, ".pkl") && n > 4) snprintf(out, n + 5, "%.*s.tpk", (int)(n - 4), in);
    else snprintf(out, n + 5, "%s.tpk", in);
    return out;
}

/* A name stored in a container is untrusted: only a plain file name. */
static bool safe_basename(const char *s)
{
    return s[0] && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

/* The directory of `in` plus the original name stored in the container,
 * or, without one, `in` minus .tpk. */
static char *expanded_name(const char *in, const char *stored)
{
    size_t n = strlen(in);
    if (stored && safe_basename(stored)) {
        const char *slash = strrchr(in, '/');
        size_t dir = slash ? (size_t)(slash - in) + 1 : 0;
        size_t len = dir + strlen(stored) + 1;
        char *out = malloc(len);
        if (out) snprintf(out, len, "%.*s%s", (int)dir, in, stored);
        return out;
    }
    if (ends_with(in, ".tpk") && n > 4) {
        char *out = malloc(n + 1);
        if (out) snprintf(out, n + 1, "%.*s.pkl", (int)(n - 4), in);
        return out;
    }
    return NULL;
}

/* ---- commands -------------------------------------------------------------- */

static void lib_error(const char *file, tp_ctx *ctx) { cli_error(file, "%s", tp_ctx_message(ctx)); }

/* The status for a failed library call: refusals have their own. */
static int lib_status(const char *file, tp_ctx *ctx)
{
    lib_error(file, ctx);
    if (tp_ctx_code(ctx) != TP_E_UNSAFE) return EXIT_FILE_FAILED;
    cli_error(file, "refused: loading it would run code; see treepack inspect %s, and use --trust or "
                    "--allow-unsafe only if you trust where it came from", file);
    return EXIT_REFUSED;
}

/* Read the finished container back from the temporary file and expand it
 * (to nowhere): only a file that gives the input back is renamed into
 * place. */
static bool verify_written(output_file *out, const char *file, tp_ctx *ctx, const tp_options *lib)
{
    uint8_t *data;
    size_t len;
    if (!output_read_back(out, file, &data, &len)) return false;
    tp_options check = *lib;
    check.allow_unsafe = 1; /* the input was judged already; this checks the bytes */
    tp_code rc = tp_expand(ctx, data, len, &check, NULL, NULL);
    free(data);
    if (rc) cli_error(file, "the written file does not verify, so it was removed: %s", tp_ctx_message(ctx));
    return rc == TP_OK;
}

/* What a lossy compress gave up, one line each. */
static void lossy_notes(const tp_report *r)
{
    if (r->exact_mode == TP_EXACT_MODEL)
        cli_note("model-exact: %llu vocabular%s written in sorted order; the expanded file loads to an equal model "
                 "but is not byte-identical to the original",
                 (unsigned long long)r->vocabularies_sorted, r->vocabularies_sorted == 1 ? "y" : "ies");
    for (unsigned b = 1; b <= TP_STRIP_ALL; b <<= 1)
        if (r->stripped & b)
            cli_note("lossy: stripped %s (%s; %s)", tp_strip_name(b), tp_strip_cost(b), tp_strip_done(b, r->strip_kept));
}

static int do_compress(const cli_opts *o, const char *file, tp_ctx *ctx)
{
    input_file in;
    if (!input_read(&in, file)) return EXIT_FILE_FAILED;
    if (tp_is_container(in.data, in.len)) {
        cli_error(file, "is already a treepack file");
        input_free(&in);
        return EXIT_FILE_FAILED;
    }
    char *target = NULL;
    if (!o->to_stdout) {
        target = o->output ? strdup(o->output) : strcmp(file, "-") ? compressed_name(file) : NULL;
        if (!target) {
            cli_error(file, "no output name: use -o FILE or -c");
            input_free(&in);
            return EXIT_USAGE;
        }
    }
    output_file out;
    if (!output_open(&out, target, &in, o->force)) {
        free(target);
        input_free(&in);
        return EXIT_FILE_FAILED;
    }
    tp_options lib = o->lib;
    lib.name = strcmp(file, "-") ? file : NULL;
    tp_sink sink = {output_write, &out};
    tp_report rep;
    tp_code rc = tp_compress(ctx, in.data, in.len, &lib, &sink, &rep);
    int status = EXIT_OK;
    if (rc) {
        status = lib_status(file, ctx);
        output_abort(&out);
    } else if (target && !verify_written(&out, file, ctx, &lib)) {
        status = EXIT_FILE_FAILED;
        output_abort(&out);
    } else if (!output_commit(&out, &in, o->force)) {
        status = EXIT_FILE_FAILED;
    } else if (cli_verbosity >= 1) {
        char line[700];
        summary_line(&rep, strcmp(file, "-") ? file : "(stdin)", line, sizeof line);
        if (target) cli_note("%s -> %s", line, target);
        else cli_note("%s", line);
        lossy_notes(&rep);
        if (cli_verbosity >= 2 && rep.verbatim_note[0]) cli_note("  kept as they were: %s", rep.verbatim_note);
    }
    free(target);
    input_free(&in);
    return status;
}

static int do_expand(const cli_opts *o, const char *file, tp_ctx *ctx, bool test_only)
{
    input_file in;
    if (!input_read(&in, file)) return EXIT_FILE_FAILED;
    tp_report rep;
    if (!tp_is_container(in.data, in.len)) {
        cli_error(file, "is not a treepack file (no .tpk magic)");
        input_free(&in);
        return EXIT_FILE_FAILED;
    }
    char *target = NULL;
    output_file out;
    memset(&out, 0, sizeof out);
    bool have_out = false;
    if (!test_only) {
        if (!o->to_stdout) {
            if (o->output) {
                target = strdup(o->output);
            } else {
                tp_code rc = tp_info(ctx, in.data, in.len, &rep);
                if (rc) {
                    lib_error(file, ctx);
                    input_free(&in);
                    return EXIT_FILE_FAILED;
                }
                target = strcmp(file, "-") ? expanded_name(file, rep.name) : NULL;
            }
            if (!target) {
                cli_error(file, "no output name: use -o FILE or -c");
                input_free(&in);
                return EXIT_USAGE;
            }
        }
        if (!output_open(&out, target, &in, o->force)) {
            free(target);
            input_free(&in);
            return EXIT_FILE_FAILED;
        }
        have_out = true;
    }
    tp_sink sink = {output_write, &out};
    /* The library checks the expanded pickle before the sink sees a byte
     * (unless --allow-unsafe), so a refused file leaves no output. */
    tp_code rc = tp_expand(ctx, in.data, in.len, &o->lib, have_out ? &sink : NULL, &rep);
    int status = EXIT_OK;
    if (rc) {
        status = lib_status(file, ctx);
        if (have_out) output_abort(&out);
    } else if (have_out && !output_commit(&out, &in, o->force)) {
        status = EXIT_FILE_FAILED;
    } else if (cli_verbosity >= 1) {
        char size[32];
        human_size(rep.original_size, size, sizeof size);
        /* a compressed joblib file whose compression is not reproduced:
         * only its stream is checked (see `info`) */
        bool stream_only = rep.wrapper[0] && !rep.wrapper_exact;
        const char *what = rep.stripped ? "; lossy: not the original model, see info"
                           : rep.exact_mode == TP_EXACT_MODEL ? "; model-exact: an equal model, not the original bytes"
                                                              : "";
        if (test_only)
            cli_note("%s: OK, expands to %s (%s) with a matching checksum%s%s", file,
                     rep.name[0] ? rep.name : "(unnamed)", size,
                     stream_only ? " of its decompressed stream" : "", what);
        else if (target)
            cli_note("%s -> %s (%s, checksum verified%s%s)", file, target, size,
                     stream_only ? " on the decompressed stream; the file is compressed anew" : "", what);
    }
    free(target);
    input_free(&in);
    return status;
}

static int do_info(const cli_opts *o, const char *file, tp_ctx *ctx)
{
    input_file in;
    if (!input_read(&in, file)) return EXIT_FILE_FAILED;
    tp_report rep;
    int status = EXIT_OK;
    if (!tp_is_container(in.data, in.len)) {
        cli_error(file, "is not a treepack file (no .tpk magic)");
        status = EXIT_FILE_FAILED;
    } else if (tp_info(ctx, in.data, in.len, &rep)) {
        lib_error(file, ctx);
        status = EXIT_FILE_FAILED;
    } else {
        print_info(file, &rep, o->json);
    }
    input_free(&in);
    return status;
}

/* ---- arguments --------------------------------------------------------------- */

static bool parse_uint(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* A byte count with an optional K, M or G (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') return false;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    else if (*end == 'G' || *end == 'g') shift = 30, end++;
    if (*end || v == 0 || v > (UINT64_MAX >> shift)) return false;
    *out = (uint64_t)v << shift;
    return true;
}

/* --exact=byte|model, --strip impurity,samples,stop-words; nonzero on error. */
static int parse_lossy(bool exact, const char *arg, tp_options *lib)
{
    if (exact) {
        if (!strcmp(arg, "byte")) lib->exact = TP_EXACT_BYTE;
        else if (!strcmp(arg, "model")) lib->exact = TP_EXACT_MODEL;
        else {
            cli_error(NULL, "--exact takes byte or model, not '%s'", arg);
            return 1;
        }
        return 0;
    }
    const char *s = arg;
    while (*s) {
        size_t n = strcspn(s, ",");
        unsigned bit = 0;
        for (unsigned b = 1; b <= TP_STRIP_ALL; b <<= 1)
            if (strlen(tp_strip_name(b)) == n && !strncmp(s, tp_strip_name(b), n)) bit = b;
        if (!bit) {
            cli_error(NULL, "--strip: unknown part '%.*s' (known: impurity, samples, stop-words)", (int)n, s);
            return 1;
        }
        lib->strip |= bit;
        s += n;
        if (*s == ',') s++;
    }
    if (!lib->strip) {
        cli_error(NULL, "--strip needs a list: impurity, samples, stop-words");
        return 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, cli_opts *o, int *first_file)
{
    memset(o, 0, sizeof *o);
    tp_options_init(&o->lib);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *c = argv[1];
    if (!strcmp(c, "-h") || !strcmp(c, "--help")) {
        usage(stdout);
        return -1;
    }
    if (!strcmp(c, "-V") || !strcmp(c, "--version")) {
        printf("treepack %s\n", tp_version());
        return -1;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(c, commands[i].name)) o->cmd = commands[i].cmd;
    if (o->cmd == CMD_NONE) {
        cli_error(NULL, "unknown command '%s' (try: treepack --help)", c);
        return EXIT_USAGE;
    }
    enum { OPT_JSON = 256, OPT_LEVEL, OPT_TRUST, OPT_ALLOW_UNSAFE, OPT_MAX_MEMORY, OPT_EXACT, OPT_STRIP };
    static const struct option longopts[] = {
        {"stdout", no_argument, NULL, 'c'},   {"force", no_argument, NULL, 'f'},
        {"keep", no_argument, NULL, 'k'},     {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},  {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},  {"output", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 'T'}, {"json", no_argument, NULL, OPT_JSON},
        {"level", required_argument, NULL, OPT_LEVEL}, {"trust", required_argument, NULL, OPT_TRUST},
        {"allow-unsafe", no_argument, NULL, OPT_ALLOW_UNSAFE},
        {"max-memory", required_argument, NULL, OPT_MAX_MEMORY}, {"exact", required_argument, NULL, OPT_EXACT},
        {"strip", required_argument, NULL, OPT_STRIP}, {NULL, 0, NULL, 0},
    };
    /* getopt cannot read -19; take numeric levels out first. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    o->trusted = calloc((size_t)argc + 1, sizeof *o->trusted);
    if (!args || !o->trusted) {
        free(args);
        return EXIT_USAGE;
    }
    o->lib.trusted = o->trusted;
    int n = 0;
    args[n++] = argv[0];
    bool after_dashdash = false;
    for (int i = 2; i < argc; i++) {
        long lv;
        if (!after_dashdash && argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9') {
            if (!parse_uint(argv[i] + 1, 1, TP_LEVEL_MAX, &lv)) {
                cli_error(NULL, "level %s is outside -1..-%d", argv[i], TP_LEVEL_MAX);
                free(args);
                return EXIT_USAGE;
            }
            o->lib.level = (int)lv;
            continue;
        }
        if (!strcmp(argv[i], "--")) after_dashdash = true;
        args[n++] = argv[i];
    }
    optind = 1;
    opterr = 0;
    int ch, status = 0;
    long v;
    while (!status && (ch = getopt_long(n, args, ":o:cfkqvhVT:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o': o->output = optarg; break;
        case 'c': o->to_stdout = true; break;
        case 'f': o->force = true; break;
        case 'k': break;
        case 'q': cli_verbosity = 0; break;
        case 'v': cli_verbosity = 2; break;
        case 'h': usage(stdout); status = -1; break;
        case 'V': printf("treepack %s\n", tp_version()); status = -1; break;
        case OPT_JSON: o->json = true; break;
        case OPT_TRUST:
            if (!optarg[0] || optarg[0] == '.' || optarg[strlen(optarg) - 1] == '.') {
                cli_error(NULL, "--trust needs a module or module.name, not '%s'", optarg);
                status = EXIT_USAGE;
                break;
            }
            o->trusted[o->lib.ntrusted++] = optarg;
            break;
        case OPT_ALLOW_UNSAFE: o->lib.allow_unsafe = 1; break;
        case OPT_MAX_MEMORY:
            if (!parse_size(optarg, &o->lib.limits.max_memory)) {
                cli_error(NULL, "--max-memory needs a size such as 512M or 2G, not '%s'", optarg);
                status = EXIT_USAGE;
            }
            break;
        case OPT_LEVEL:
            if (!parse_uint(optarg, 1, TP_LEVEL_MAX, &v)) {
                cli_error(NULL, "--level must be 1..%d", TP_LEVEL_MAX);
                status = EXIT_USAGE;
            }
            o->lib.level = (int)v;
            break;
        case OPT_EXACT:
        case OPT_STRIP:
            if (parse_lossy(ch == OPT_EXACT, optarg, &o->lib)) status = EXIT_USAGE;
            else if (o->cmd != CMD_COMPRESS) {
                cli_error(NULL, "%s applies to compress only", ch == OPT_EXACT ? "--exact" : "--strip");
                status = EXIT_USAGE;
            }
            break;
        case 'T':
            if (!parse_uint(optarg, 0, 256, &v)) {
                cli_error(NULL, "-T needs a number of threads, 0..256");
                status = EXIT_USAGE;
            }
            o->lib.threads = v == 0 ? (int)sysconf(_SC_NPROCESSORS_ONLN) : (int)v;
            break;
        case ':':
            cli_error(NULL, "option %s needs an argument", args[optind - 1]);
            status = EXIT_USAGE;
            break;
        default:
            cli_error(NULL, "unknown option '%s' (try: treepack --help)", args[optind - 1]);
            status = EXIT_USAGE;
        }
    }
    if (!status) {
        /* rewrite argv so that files are argv[*first_file .. argc) */
        int k = 0;
        for (int i = optind; i < n; i++) argv[2 + k++] = args[i];
        *first_file = 2;
        argv[2 + k] = NULL;
        if (k == 0) {
            cli_error(NULL, "no input files (use - for standard input)");
            status = EXIT_USAGE;
        } else if (o->output && k > 1) {
            cli_error(NULL, "-o takes one input file, %d given", k);
            status = EXIT_USAGE;
        } else if (o->output && o->to_stdout) {
            cli_error(NULL, "-o and -c cannot be used together");
            status = EXIT_USAGE;
        }
    }
    free(args);
    return status;
}

int main(int argc, char **argv)
{
    cli_opts o;
    int first = 0;
    int status = parse_args(argc, argv, &o, &first);
    if (status) {
        free(o.trusted);
        return status == -1 ? EXIT_OK : status;
    }
    install_signal_cleanup();
    /* The library allocates and frees buffers of a few MB per block; give
     * them back to the kernel only in large amounts, so that the next
     * block reuses the pages instead of faulting in fresh zeroed ones. */
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    /* Worker threads would each get an arena whose free pages the others
     * cannot reuse; the allocations are few and large, so one is enough. */
    mallopt(M_ARENA_MAX, 1);
    tp_ctx *ctx = tp_ctx_new();
    if (!ctx) {
        cli_error(NULL, "out of memory");
        return EXIT_FILE_FAILED;
    }
    int worst = EXIT_OK;
    for (int i = first; argv[i]; i++) {
        int r = EXIT_OK;
        switch (o.cmd) {
        case CMD_COMPRESS: r = do_compress(&o, argv[i], ctx); break;
        case CMD_EXPAND: r = do_expand(&o, argv[i], ctx, false); break;
        case CMD_TEST: r = do_expand(&o, argv[i], ctx, true); break;
        case CMD_INFO: r = do_info(&o, argv[i], ctx); break;
        case CMD_INSPECT: r = do_inspect(argv[i], &o.lib, o.json, ctx); break;
        case CMD_NONE: break;
        }
        if (r > worst) worst = r;
    }
    tp_ctx_free(ctx);
    free(o.trusted);
    return worst;
}
