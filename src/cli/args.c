/*
 * args.c - the command line: commands, options, and the help that
 * describes them.
 *
 * One table says which options each command takes; the help of a command
 * lists exactly those, and an option given to a command it does not apply
 * to is a usage error rather than something silently ignored.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define C_COMPRESS (1u << CMD_COMPRESS)
#define C_EXPAND (1u << CMD_EXPAND)
#define C_INFO (1u << CMD_INFO)
#define C_TEST (1u << CMD_TEST)
#define C_INSPECT (1u << CMD_INSPECT)
#define C_WRITE (C_COMPRESS | C_EXPAND)
#define C_ALL (C_COMPRESS | C_EXPAND | C_INFO | C_TEST | C_INSPECT)

enum {
    OPT_JSON = 256, OPT_LEVEL, OPT_TRUST, OPT_ALLOW_UNSAFE, OPT_MAX_MEMORY, OPT_EXACT, OPT_STRIP, OPT_PROGRESS,
    OPT_NO_PROGRESS, OPT_SYNC, OPT_COLUMNS
};

typedef struct opt_spec {
    int code;          /* getopt's value for it */
    const char *name;  /* as messages name it */
    unsigned cmds;     /* the commands it applies to */
    const char *help;  /* its lines in --help */
} opt_spec;

static const opt_spec specs[] = {
    {'o', "-o", C_WRITE, "  -o FILE, --output=FILE  write to FILE (one input only)\n"},
    {'c', "-c", C_WRITE, "  -c, --stdout        write to standard output (also when the input is -)\n"},
    {'f', "-f", C_WRITE, "  -f, --force         overwrite existing files; allow binary output to a terminal\n"},
    {'k', "-k", C_WRITE, "  -k, --keep          keep the input (always done; accepted for gzip/zstd habits)\n"},
    {'N', "-N", C_EXPAND, "  -N, --name          name the output as the .tpk says the original was named\n"
                          "                      (a plain model file name only), not after the .tpk\n"},
    {OPT_SYNC, "--sync", C_WRITE, "  --sync              flush each output to the disk before it gets its name, so\n"
                                  "                      that a power loss cannot leave a short file (slower)\n"},
    {'r', "-r", C_ALL, "  -r, --recursive     convert every model file under the directories given;\n"
                       "                      other files are skipped with a note\n"},
    {OPT_LEVEL, "--level", C_COMPRESS, "  -1 .. -19, --level=N  compression level (default 9)\n"},
    {'T', "-T", C_COMPRESS | C_EXPAND | C_TEST, "  -T N, --threads=N   use N threads (0: one per core): several files at once,\n"
                       "                      or the trees of one file in parallel (default 1;\n"
                       "                      compress: every core for a file of 64 MiB or more)\n"},
    {OPT_EXACT, "--exact", C_COMPRESS,
     "  --exact=byte        expand gives back the original bytes (the default)\n"
     "  --exact=model       vocabularies may be written in sorted order: the expanded\n"
     "                      model equals the original, its bytes differ\n"},
    {OPT_STRIP, "--strip", C_COMPRESS,
     "  --strip=LIST        for models that only predict (lossy); LIST is comma-separated:\n"
     "                      impurity (feature_importances_ no longer meaningful),\n"
     "                      samples (n_node_samples, weighted_n_node_samples; idem),\n"
     "                      stop-words (stop_words_ of text vectorizers emptied),\n"
     "                      split-values (internal-node values of regression trees),\n"
     "                      thresholds (split thresholds as float32, decisions unchanged),\n"
     "                      all (every part above: predictions stay bit-identical),\n"
     "                      precision (regression values as float32: predictions change)\n"},
    {OPT_COLUMNS, "--columns", C_COMPRESS,
     "  --columns           store what was recognised column by column even in a small\n"
     "                      file that comes out smaller as one stream (by default a file\n"
     "                      of up to 256 KiB is tried both ways and the smaller is kept)\n"},
    {OPT_JSON, "--json", C_INFO | C_INSPECT, "  --json              print JSON, one object per file and line\n"},
    {OPT_TRUST, "--trust", C_COMPRESS | C_EXPAND | C_TEST | C_INSPECT,
     "  --trust=M[.N]       trust module M (and its submodules) or the name M.N\n"},
    {OPT_ALLOW_UNSAFE, "--allow-unsafe", C_COMPRESS | C_EXPAND | C_TEST,
     "  --allow-unsafe      do not refuse pickles that import names outside the allowlist\n"},
    {OPT_MAX_MEMORY, "--max-memory", C_COMPRESS | C_EXPAND | C_TEST | C_INSPECT,
     "  --max-memory=SIZE   memory for reading a pickle (K, M, G suffixes; default 4G)\n"},
    {OPT_PROGRESS, "--progress", C_COMPRESS | C_EXPAND | C_TEST,
     "  --progress          show the progress line even when stderr is no terminal\n"},
    {OPT_NO_PROGRESS, "--no-progress", C_COMPRESS | C_EXPAND | C_TEST,
     "  --no-progress       never show it (by default: on a terminal, after a second)\n"},
    {'q', "-q", C_ALL, "  -q, --quiet         print errors only\n"},
    {'v', "-v", C_ALL, "  -v, --verbose       print more\n"},
    {'h', "-h", C_ALL, "  -h, --help          this help\n"},
    {'V', "-V", C_ALL, "  -V, --version       print the version\n"},
};

static const struct {
    const char *name;
    command cmd;
    const char *args;    /* after the command name in the usage line */
    const char *summary; /* one line for the overview */
    const char *about;   /* the paragraph of its own help */
    const char *examples;
} commands[] = {
    {"compress", CMD_COMPRESS, "[OPTIONS] FILE...", "model.pkl -> model.tpk (exact: expands to the same bytes)",
     "Write FILE.tpk for each pickle or joblib file (model.pkl becomes model.tpk).\n"
     "By default the conversion is exact: expand gives back the same bytes, and the\n"
     "container holds a checksum of them that expand proves.  A pickle that would\n"
     "import or call anything outside the allowlist is refused (exit status 3).\n",
     "  treepack compress model.pkl                  writes model.tpk\n"
     "  treepack compress -19 -T 0 forest.joblib     smallest, on every core\n"
     "  treepack compress -r models/                 every model file under models/\n"
     "  treepack compress < model.pkl > model.tpk    in a pipe\n"
     "  treepack compress --strip=impurity,samples model.pkl\n"
     "                                               smaller, for prediction only (lossy)\n"},
    {"expand", CMD_EXPAND, "[OPTIONS] FILE...", "model.tpk -> the original file, checked against its checksum",
     "Write back the file each .tpk was made from, named after the .tpk as gzip\n"
     "does (model.tpk becomes model.pkl, forest.joblib.tpk becomes forest.joblib;\n"
     "-N uses the name stored in the .tpk instead).  The result is checked against\n"
     "the stored checksum and read again as a loader would before it gets its name;\n"
     "nothing is left behind when it does not pass.\n",
     "  treepack expand model.tpk                    writes model.pkl\n"
     "  treepack expand -N upload.tpk                writes the name it was compressed from\n"
     "  treepack expand -o /srv/model.pkl model.tpk\n"
     "  curl -s https://example.org/model.tpk | treepack expand -c - > model.pkl\n"
     "  treepack expand -r -T 2 models/              every .tpk under models/, two at once\n"},
    {"info", CMD_INFO, "[OPTIONS] FILE...", "what a .tpk holds and where its bytes went",
     "Describe each .tpk: the original's name, size and checksum, what was found in\n"
     "it, and a table of where the bytes went (skeleton, topology, features,\n"
     "thresholds, impurity, counts, values, vocabularies).  Nothing is expanded.\n",
     "  treepack info model.tpk\n"
     "  treepack info --json model.tpk | jq .parts\n"},
    {"test", CMD_TEST, "[OPTIONS] FILE...", "prove that a .tpk expands to its original; writes nothing",
     "Expand each .tpk in memory and compare it with the stored checksum, as expand\n"
     "would, without writing anything.  Exit status 0 means every file is good.\n",
     "  treepack test model.tpk\n"
     "  treepack test -r -q artifacts/ && echo all good\n"},
    {"inspect", CMD_INSPECT, "[OPTIONS] FILE...",
     "what loading a pickle or .tpk would import and call, and a verdict",
     "List every import and call a pickle (or the pickle inside a .tpk) would make\n"
     "when loaded, with its opcode and byte offset, the trees and arrays in it, and\n"
     "a verdict against the allowlist.  Nothing is loaded or executed.  Exit\n"
     "status 3 when something is outside the allowlist and not trusted.\n",
     "  treepack inspect model.pkl\n"
     "  treepack inspect --trust=mypackage.features model.joblib\n"
     "  treepack inspect --json download.pkl\n"},
};

const char *command_name(command c)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].cmd == c) return commands[i].name;
    return "?";
}

static void usage(FILE *f)
{
    fputs("Usage: treepack COMMAND [OPTIONS] FILE...\n"
          "Make scikit-learn model pickles small for shipping, and whole again for loading.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("\nOptions (treepack COMMAND --help lists those of one command):\n", f);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) fputs(specs[i].help, f);
    fputs("\n"
          "FILE - is standard input; without files, standard input when it is no terminal.\n"
          "Exit status: 0 success, 1 a file failed, 2 wrong usage, 3 a pickle was refused\n"
          "(loading it would import or call something outside the allowlist; see treepack inspect).\n"
          "See treepack(1), and tpk(5) for the file format.\n",
          f);
}

static void command_help(size_t i, FILE *f)
{
    fprintf(f, "Usage: treepack %s %s\n%s\nOptions:\n", commands[i].name, commands[i].args, commands[i].about);
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
        if (specs[k].cmds & (1u << commands[i].cmd)) fputs(specs[k].help, f);
    fprintf(f, "\nExamples:\n%s\nSee treepack(1).\n", commands[i].examples);
}

static const opt_spec *spec_of(int code)
{
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (specs[i].code == code) return &specs[i];
    return NULL;
}

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

/* --exact=byte|model */
static bool parse_exact(const char *arg, tp_options *lib)
{
    if (!strcmp(arg, "byte")) lib->exact = TP_EXACT_BYTE;
    else if (!strcmp(arg, "model")) lib->exact = TP_EXACT_MODEL;
    else {
        cli_error(NULL, "--exact takes byte or model, not '%s'", arg);
        return false;
    }
    return true;
}

/* --strip=impurity,samples,stop-words,split-values,thresholds,precision
 * or all (every part that keeps predictions bit-identical) */
#define STRIP_KNOWN "all, impurity, samples, stop-words, split-values, thresholds, precision"
static bool parse_strip(const char *arg, tp_options *lib)
{
    const char *s = arg;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (!n) {
            cli_error(NULL, "--strip: empty part in '%s' (known: " STRIP_KNOWN ")", arg);
            return false;
        }
        unsigned bit = 0;
        if (n == 3 && !strncmp(s, "all", 3)) bit = TP_STRIP_SAFE | TP_STRIP_WHERE_SAFE;
        for (unsigned b = 1; b <= TP_STRIP_ALL; b <<= 1)
            if (strlen(tp_strip_name(b)) == n && !strncmp(s, tp_strip_name(b), n)) bit = b;
        if (!bit) {
            cli_error(NULL, "--strip: unknown part '%.*s' (known: " STRIP_KNOWN ")", (int)n, s);
            return false;
        }
        lib->strip |= bit;
        s += n;
        if (*s == ',' && !*++s) {
            cli_error(NULL, "--strip: empty part in '%s' (known: " STRIP_KNOWN ")", arg);
            return false;
        }
    }
    if (!lib->strip) {
        cli_error(NULL, "--strip needs a list: " STRIP_KNOWN);
        return false;
    }
    return true;
}

/* One option; false (after saying why) when it is wrong. */
static bool take_option(int ch, const char *arg, cli_opts *o)
{
    long v;
    switch (ch) {
    case 'o': o->output = arg; return true;
    case 'c': o->to_stdout = true; return true;
    case 'f': o->force = true; return true;
    case 'k': return true;
    case 'N': o->stored_name = true; return true;
    case 'r': o->recursive = true; return true;
    case 'q': cli_verbosity = 0; return true;
    case 'v': cli_verbosity = 2; return true;
    case OPT_JSON: o->json = true; return true;
    case OPT_PROGRESS: o->progress = PROGRESS_ALWAYS; return true;
    case OPT_NO_PROGRESS: o->progress = PROGRESS_NEVER; return true;
    case OPT_SYNC: o->sync = true; return true;
    case OPT_COLUMNS: o->lib.columns = 1; return true;
    case OPT_ALLOW_UNSAFE: o->lib.allow_unsafe = 1; return true;
    case OPT_EXACT: return parse_exact(arg, &o->lib);
    case OPT_STRIP: return parse_strip(arg, &o->lib);
    case OPT_TRUST:
        if (!arg[0] || arg[0] == '.' || arg[strlen(arg) - 1] == '.') {
            cli_error(NULL, "--trust needs a module or module.name, not '%s'", arg);
            return false;
        }
        o->trusted[o->lib.ntrusted++] = arg;
        return true;
    case OPT_MAX_MEMORY:
        if (!parse_size(arg, &o->lib.limits.max_memory)) {
            cli_error(NULL, "--max-memory needs a size such as 512M or 2G, not '%s'", arg);
            return false;
        }
        return true;
    case OPT_LEVEL:
        if (!parse_uint(arg, 1, TP_LEVEL_MAX, &v)) {
            cli_error(NULL, "--level must be 1..%d, not '%s'", TP_LEVEL_MAX, arg);
            return false;
        }
        o->lib.level = (int)v;
        return true;
    case 'T':
        if (!parse_uint(arg, 0, 256, &v)) {
            cli_error(NULL, "-T needs a number of threads, 0..256, not '%s'", arg);
            return false;
        }
        o->threads = v == 0 ? (int)sysconf(_SC_NPROCESSORS_ONLN) : (int)v;
        if (o->threads < 1) o->threads = 1;
        o->lib.threads = o->threads;
        o->threads_given = true;
        return true;
    }
    return false;
}

/* The command word: its index in commands[], or -1 after answering
 * --help/--version (status in *status). */
static int find_command(int argc, char **argv, int *status)
{
    *status = 0;
    if (argc < 2) {
        usage(stderr);
        *status = EXIT_USAGE;
        return -1;
    }
    const char *c = argv[1];
    if (!strcmp(c, "-h") || !strcmp(c, "--help") || !strcmp(c, "help")) {
        /* `treepack help compress` is `treepack compress --help` */
        for (size_t i = 0; argc > 2 && i < sizeof commands / sizeof commands[0]; i++)
            if (!strcmp(argv[2], commands[i].name)) {
                command_help(i, stdout);
                *status = -1;
                return -1;
            }
        if (argc > 2) {
            cli_error(NULL, "no command '%s' (try: treepack --help)", argv[2]);
            *status = EXIT_USAGE;
            return -1;
        }
        usage(stdout);
        *status = -1;
        return -1;
    }
    if (!strcmp(c, "-V") || !strcmp(c, "--version")) {
        printf("treepack %s\n", tp_version());
        *status = -1;
        return -1;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(c, commands[i].name)) return (int)i;
    if (c[0] == '-') cli_error(NULL, "the command comes first: treepack COMMAND [OPTIONS] FILE... (try: treepack --help)");
    else cli_error(NULL, "unknown command '%s' (try: treepack --help)", c);
    *status = EXIT_USAGE;
    return -1;
}

/* Whether getopt takes the word after `a` as its value: a = "-o",
 * "-qT", "--output" or an abbreviation of it, but not "--output=x". */
static bool takes_next(const char *a, const struct option *longopts)
{
    if (a[0] != '-' || !a[1] || (a[1] >= '0' && a[1] <= '9')) return false;
    if (a[1] == '-') {
        if (!a[2] || strchr(a, '=')) return false;
        for (const struct option *lo = longopts; lo->name; lo++)
            if (lo->has_arg == required_argument && !strncmp(lo->name, a + 2, strlen(a + 2))) return true;
        return false;
    }
    for (const char *c = a + 1; *c; c++)
        if (*c == 'o' || *c == 'T') return !c[1]; /* else the rest of the word is the value */
    return false;
}

/* What getopt_long's '?' was.  A short option in a word of several
 * (-xq) does not move optind, so its word is not args[optind - 1]: the
 * letter is in optopt.  A long option given an argument it does not take
 * has its code in optopt; an unknown or ambiguous one leaves it 0. */
static void bad_option(const char *word, const struct option *longopts, const char *cmd)
{
    if (optopt && !spec_of(optopt)) {
        cli_error(NULL, "unknown option '-%c' (try: treepack %s --help)", optopt, cmd);
        return;
    }
    size_t n = strcspn(word, "=");
    if (optopt) {
        cli_error(NULL, "option %.*s takes no argument (try: treepack %s --help)", (int)n, word, cmd);
        return;
    }
    int matches = 0;
    for (const struct option *lo = longopts; lo->name && n > 2; lo++)
        matches += !strncmp(lo->name, word + 2, n - 2);
    if (matches > 1)
        cli_error(NULL, "option '%.*s' is ambiguous (try: treepack %s --help)", (int)n, word, cmd);
    else
        cli_error(NULL, "unknown option '%s' (try: treepack %s --help)", word, cmd);
}

int parse_args(int argc, char **argv, cli_opts *o, int *first)
{
    memset(o, 0, sizeof *o);
    tp_options_init(&o->lib);
    o->threads = 1;
    int status;
    int ci = find_command(argc, argv, &status);
    if (ci < 0) return status;
    o->cmd = commands[ci].cmd;
    static const struct option longopts[] = {
        {"stdout", no_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},
        {"keep", no_argument, NULL, 'k'},
        {"name", no_argument, NULL, 'N'},
        {"recursive", no_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"output", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, OPT_JSON},
        {"level", required_argument, NULL, OPT_LEVEL},
        {"trust", required_argument, NULL, OPT_TRUST},
        {"allow-unsafe", no_argument, NULL, OPT_ALLOW_UNSAFE},
        {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
        {"exact", required_argument, NULL, OPT_EXACT},
        {"strip", required_argument, NULL, OPT_STRIP},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"sync", no_argument, NULL, OPT_SYNC},
        {"columns", no_argument, NULL, OPT_COLUMNS},
        {NULL, 0, NULL, 0},
    };
    /* getopt cannot read -19: numeric levels are taken out first. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    o->trusted = calloc((size_t)argc + 1, sizeof *o->trusted);
    if (!args || !o->trusted) {
        free(args);
        cli_error(NULL, "out of memory");
        return EXIT_USAGE;
    }
    o->lib.trusted = o->trusted;
    int n = 0;
    args[n++] = argv[0];
    bool after_dashdash = false, is_value = false;
    for (int i = 2; i < argc; i++) {
        long lv;
        if (is_value) {
            args[n++] = argv[i]; /* the value of -T, -o ...: -T -1 is not level 1 */
            is_value = false;
            continue;
        }
        is_value = !after_dashdash && takes_next(argv[i], longopts);
        if (!after_dashdash && argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9') {
            if (o->cmd != CMD_COMPRESS) {
                cli_error(NULL, "%s: a compression level applies to compress only", argv[i]);
                free(args);
                return EXIT_USAGE;
            }
            if (argv[i][strspn(argv[i] + 1, "0123456789") + 1]) {
                /* -9v: getopt never sees it, so say here what it is not */
                cli_error(NULL, "unknown option '%s' (a level -1..-%d stands alone; try: treepack compress --help)",
                          argv[i], TP_LEVEL_MAX);
                free(args);
                return EXIT_USAGE;
            }
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
    int ch;
    status = 0;
    while (!status && (ch = getopt_long(n, args, ":o:cfkNrqvhVT:", longopts, NULL)) != -1) {
        if (ch == 'h') {
            command_help((size_t)ci, stdout);
            status = -1;
        } else if (ch == 'V') {
            printf("treepack %s\n", tp_version());
            status = -1;
        } else if (ch == ':') {
            /* the option ends its word: args[optind - 1] holds it */
            if (!strncmp(args[optind - 1], "--", 2))
                cli_error(NULL, "option %s needs an argument", args[optind - 1]);
            else
                cli_error(NULL, "option -%c needs an argument", optopt);
            status = EXIT_USAGE;
        } else if (!spec_of(ch)) {
            bad_option(args[optind - 1], longopts, commands[ci].name);
            status = EXIT_USAGE;
        } else if (!(spec_of(ch)->cmds & (1u << o->cmd))) {
            cli_error(NULL, "%s does not apply to %s (try: treepack %s --help)", spec_of(ch)->name,
                      commands[ci].name, commands[ci].name);
            status = EXIT_USAGE;
        } else if (!take_option(ch, optarg, o)) {
            status = EXIT_USAGE;
        }
    }
    if (!status) {
        /* the files go to argv[*first ..] */
        int k = 0;
        for (int i = optind; i < n; i++) argv[2 + k++] = args[i];
        *first = 2;
        argv[2 + k] = NULL;
        if (k == 0 && o->recursive) {
            cli_error(NULL, "-r needs a directory (try: treepack %s --help)", commands[ci].name);
            status = EXIT_USAGE;
        } else if (k == 0 && isatty(0)) {
            cli_error(NULL, "no input files (use - for standard input; try: treepack %s --help)", commands[ci].name);
            status = EXIT_USAGE;
        } else if (o->output && (k > 1 || o->recursive)) {
            cli_error(NULL, "-o takes one input file, not %s", o->recursive ? "-r" : "several");
            status = EXIT_USAGE;
        } else if (o->output && o->to_stdout) {
            cli_error(NULL, "-o and -c cannot be used together");
            status = EXIT_USAGE;
        } else if (o->to_stdout && o->recursive) {
            cli_error(NULL, "-c and -r cannot be used together");
            status = EXIT_USAGE;
        } else if (o->to_stdout && k > 1 && o->cmd == CMD_COMPRESS) {
            /* .tpk files put end to end do not expand: each holds one file */
            cli_error(NULL, "-c takes one input file with compress, not several (a .tpk holds one file)");
            status = EXIT_USAGE;
        }
    }
    free(args);
    return status;
}
