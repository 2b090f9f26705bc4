/*
 * npy.c - recognise numpy dtypes and arrays in the interpreter's graph.
 */
#include <stdlib.h>

#include "numpy/npy.h"

#define NUMPY_MULTIARRAY "numpy.core.multiarray|numpy._core.multiarray"
#define NUMPY_NUMERIC "numpy.core.numeric|numpy._core.numeric"

bool npy_scalar_parse(const char *s, size_t n, npy_scalar *out)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    if (i < n && (s[i] == '<' || s[i] == '>' || s[i] == '|' || s[i] == '=')) {
        out->big = s[i] == '>';
        i++;
    }
    if (i >= n) return false;
    out->kind = s[i++];
    if (!strchr("iufbVOcSUmM?", out->kind)) return false;
    if (i == n) return false;
    uint64_t size = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        size = size * 10 + (uint64_t)(s[i] - '0');
        if (size > (1u << 30)) return false;
    }
    out->size = (uint32_t)size;
    return size > 0;
}

static bool str_arg(const pv_vm *vm, pv v, char *buf, size_t cap)
{
    const uint8_t *p;
    size_t n;
    if (!pv_text(vm, v, &p, &n) || n == 0 || n >= cap) return false;
    memcpy(buf, p, n);
    buf[n] = 0;
    return true;
}

/* The dtype's BUILD state:
 * (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
 * Fields must have plain dtypes: a crafted dtype can list itself (through
 * the memo) as the type of its own field, so never recurse deeper. */
static bool dtype_parse(const pv_vm *vm, pv v, npy_dtype *dt, bool structured_ok)
{
    memset(dt, 0, sizeof *dt);
    const pv_obj *o = pv_obj_of(vm, v);
    if (!o || o->how != HOW_REDUCE || !pv_is_global(vm, o->callable, "numpy", "dtype")) return false;
    const pv_seq *args = pv_seq_of(vm, o->args);
    if (!args || args->n < 1) return false;
    char typestr[40];
    if (!str_arg(vm, args->items[0], typestr, sizeof typestr)) return false;
    if (!npy_scalar_parse(typestr, strlen(typestr), &dt->base)) return false;

    const pv_seq *st = pv_seq_of(vm, o->state);
    if (!st || st->kind != PV_TUPLE || st->n < 8) return false;
    int64_t version;
    if (!pv_int(st->items[0], &version) || (version != 3 && version != 4)) return false;
    char order[4];
    if (!str_arg(vm, st->items[1], order, sizeof order) || strlen(order) != 1) return false;
    dt->base.big = order[0] == '>';
    if (st->items[2].kind != PV_NONE) return false; /* subarray dtypes: not for us */

    if (st->items[3].kind == PV_NONE) return dt->base.kind != 'V' || st->items[4].kind == PV_NONE;
    if (!structured_ok) return false;

    /* structured: names tuple and fields dict name -> (dtype, offset[, title]) */
    const pv_seq *names = pv_seq_of(vm, st->items[3]);
    if (!names || names->kind != PV_TUPLE || names->n == 0 || names->n > NPY_MAX_FIELDS) return false;
    int64_t elsize;
    if (!pv_int(st->items[5], &elsize) || elsize <= 0 || elsize > (1 << 20)) return false;
    dt->base.size = (uint32_t)elsize;
    for (size_t i = 0; i < names->n; i++) {
        npy_field *f = &dt->fields[i];
        if (!str_arg(vm, names->items[i], f->name, sizeof f->name)) return false;
        const pv *entry = pv_dict_get(vm, st->items[4], f->name);
        const pv_seq *t = entry ? pv_seq_of(vm, *entry) : NULL;
        if (!t || t->kind != PV_TUPLE || t->n < 2) return false;
        npy_dtype sub;
        int64_t off;
        if (!dtype_parse(vm, t->items[0], &sub, false)) return false;
        if (!pv_int(t->items[1], &off) || off < 0 || (uint64_t)off + sub.base.size > (uint64_t)elsize) return false;
        f->type = sub.base;
        f->offset = (uint32_t)off;
    }
    dt->nfields = (int)names->n;
    return true;
}

/* ---- the canonical form of a dtype (npy_dtype_check) ----------------- */

/* numpy's flag bits (ndarraytypes.h): what an object field brings to the
 * structure holding it (NPY_FROM_FIELDS), and the bit a structured dtype
 * always has. */
#define NPY_ITEM_HASOBJECT 0x01
#define NPY_FROM_FIELDS 0x1b
#define NPY_NEEDS_PYAPI 0x10
#define NPY_ALIGNED_STRUCT 0x80
#define DTYPE_MAX_DEPTH 4

static bool is_int_value(pv v, int64_t want)
{
    int64_t x;
    return pv_int(v, &x) && x == want;
}

static const char *dtype_check(const pv_vm *vm, pv v, uint64_t *itemsize, bool *hasobject, uint8_t *flags_out,
                               int depth)
{
    const pv_obj *o = pv_obj_of(vm, v);
    if (!o || o->how != HOW_REDUCE || !pv_is_global(vm, o->callable, "numpy", "dtype"))
        return "a dtype that is not made by numpy.dtype(...)";
    if (depth > DTYPE_MAX_DEPTH) return "a dtype nested too deep (or within itself)";
    const pv_seq *args = pv_seq_of(vm, o->args);
    char typestr[24];
    if (!args || args->n != 3 || !str_arg(vm, args->items[0], typestr, sizeof typestr) ||
        !is_int_value(args->items[1], 0) || !is_int_value(args->items[2], 1))
        return "numpy.dtype called with other arguments than (typestr, False, True)";
    if (o->builds != 1) return "a dtype given its state more or less than once";
    if (o->early_ref) return "a dtype referred to before it was given its state";
    const pv_seq *st = pv_seq_of(vm, o->state);
    int64_t version, elsize, alignment, flags;
    if (!st || st->kind != PV_TUPLE || !(st->n == 8 || st->n == 9) || !pv_int(st->items[0], &version) ||
        version != (int64_t)st->n - 5 || !pv_int(st->items[5], &elsize) || !pv_int(st->items[6], &alignment) ||
        !pv_int(st->items[7], &flags) || flags < -128 || flags > 255)
        return "a dtype state that is not (3, byteorder, subarray, names, fields, elsize, alignment, flags)";
    char order[4];
    if (!str_arg(vm, st->items[1], order, sizeof order) || strlen(order) != 1 || !strchr("<>|=", order[0]))
        return "a dtype state whose byte order is not one of < > | =";
    if (st->items[2].kind != PV_NONE) return "a subarray dtype";
    npy_scalar t;
    if (strchr("<>|=", typestr[0]) || !npy_scalar_parse(typestr, strlen(typestr), &t))
        return "a dtype whose typestr numpy does not write";
    const bool flexible = t.kind == 'S' || t.kind == 'U' || t.kind == 'V';
    const bool structured = st->items[3].kind != PV_NONE || st->items[4].kind != PV_NONE;
    uint8_t expect_flags = t.kind == 'O' ? 0x3f : t.kind == 'U' ? 0x08 : 0;
    *hasobject = t.kind == 'O';
    if (!flexible) {
        if (structured || elsize != -1 || alignment != -1) return "a dtype state with an item size numpy ignores";
        static const char *const sizes[] = {"b\1", "i\1\2\4\x8", "u\1\2\4\x8", "f\2\4\x8\xc\x10",
                                            "c\x8\x10\x18\x20", "O\4\x8", "M\x8", "m\x8"};
        bool known = false;
        for (size_t i = 0; i < ARRAY_LEN(sizes) && !known; i++)
            known = sizes[i][0] == t.kind && t.size < 256 && strchr(sizes[i] + 1, (int)t.size);
        if (!known) return "a dtype whose typestr numpy does not write";
        if ((t.kind == 'M' || t.kind == 'm') != (version == 4)) return "a dtype state of the wrong version";
        *itemsize = t.size;
    } else {
        uint64_t want = t.kind == 'U' ? (uint64_t)t.size * 4 : t.size;
        if (elsize < 1 || (uint64_t)elsize != want || alignment < 1 || alignment > 64)
            return "a dtype state whose item size differs from its typestr";
        if (structured && t.kind != 'V') return "fields in a dtype that is not V";
        *itemsize = want;
    }
    if (structured) {
        const pv_seq *names = pv_seq_of(vm, st->items[3]);
        const pv_seq *fields = pv_seq_of(vm, st->items[4]);
        if (!names || names->kind != PV_TUPLE || !names->n || !fields || fields->kind != PV_DICT ||
            fields->n != 2 * names->n)
            return "a structured dtype whose names and fields do not match";
        /* numpy keeps the fields dict itself: a change after the BUILD
         * would change the dtype behind numpy's back */
        if (fields->last_mod > o->build_offset) return "a dtype whose fields change after it is built";
        expect_flags = NPY_NEEDS_PYAPI;
        uint64_t obj_lo[NPY_MAX_FIELDS], obj_hi[NPY_MAX_FIELDS];
        size_t nobj = 0;
        uint64_t lo[NPY_MAX_FIELDS], hi[NPY_MAX_FIELDS];
        if (names->n > NPY_MAX_FIELDS) return "a structured dtype of more fields than this reader follows";
        for (size_t i = 0; i < names->n; i++) {
            char name[64];
            if (!str_arg(vm, names->items[i], name, sizeof name)) return "a dtype field name that is not plain text";
            for (size_t j = 0; j < i; j++)
                if (pv_text_eq(vm, names->items[j], name)) return "a dtype that names a field twice";
            const pv *entry = pv_dict_get(vm, st->items[4], name);
            const pv_seq *ft = entry ? pv_seq_of(vm, *entry) : NULL;
            int64_t off;
            if (!ft || ft->kind != PV_TUPLE || (ft->n != 2 && ft->n != 3) || !pv_int(ft->items[1], &off) || off < 0)
                return "a dtype field that is not (dtype, offset)";
            uint64_t fsize;
            bool fobj;
            uint8_t fflags;
            const char *why = dtype_check(vm, ft->items[0], &fsize, &fobj, &fflags, depth + 1);
            if (why) return why;
            if ((uint64_t)off + fsize > (uint64_t)elsize) return "a dtype field beyond the item size";
            lo[i] = (uint64_t)off;
            hi[i] = (uint64_t)off + fsize;
            expect_flags |= fflags & NPY_FROM_FIELDS;
            if (fobj) {
                *hasobject = true;
                obj_lo[nobj] = lo[i];
                obj_hi[nobj++] = hi[i];
            }
        }
        /* a field over an object field would let bytes become a pointer */
        for (size_t k = 0; k < nobj; k++) {
            size_t over = 0;
            for (size_t i = 0; i < names->n; i++) over += lo[i] < obj_hi[k] && obj_lo[k] < hi[i];
            if (over != 1) return "a dtype whose fields overlap an object field";
        }
        if (flexible && ((uint8_t)flags & ~NPY_ALIGNED_STRUCT) == expect_flags) {
            *flags_out = expect_flags;
            return NULL;
        }
        return "a dtype state whose flags differ from what its fields give";
    }
    if ((uint8_t)flags != expect_flags) return "a dtype state whose flags differ from what its type gives";
    *flags_out = expect_flags;
    return NULL;
}

const char *npy_dtype_check(const pv_vm *vm, pv v, uint64_t *itemsize, bool *hasobject)
{
    uint8_t flags;
    return dtype_check(vm, v, itemsize, hasobject, &flags, 0);
}

/* ---- what one scan has parsed already (npy_memo) --------------------- */

/* The entry remembered for object ref, or NULL (not parsed yet, or not
 * remembered). */
static const void *recall(const npy_memo_table *t, uint32_t ref, size_t esize)
{
    int32_t s = t->slot[ref];
    return s > 0 ? (const uint8_t *)t->entries + (size_t)(s - 1) * esize : NULL;
}

/* Remember what parsing ref gave, once; past `max` entries, or out of
 * memory, mark it not remembered instead (it will be parsed again). */
static void remember(npy_memo_table *t, uint32_t ref, const void *entry, size_t esize, size_t max)
{
    if (t->slot[ref] != 0) return;
    t->slot[ref] = -1;
    if (t->n == t->cap && t->cap < max) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        void *e = realloc(t->entries, cap * esize);
        if (e) t->entries = e, t->cap = cap;
    }
    if (t->n == t->cap) return;
    memcpy((uint8_t *)t->entries + t->n * esize, entry, esize);
    t->slot[ref] = (int32_t)++t->n;
}

static bool memo_usable(const npy_memo *m, const npy_memo_table *t, pv v)
{
    return m && t->slot && v.kind == PV_OBJECT && v.ref < m->nobjs;
}

typedef struct dtype_entry {
    bool ok;
    npy_dtype dt;
} dtype_entry;

typedef struct array_entry {
    bool ok;
    npy_array arr;
} array_entry;

/* Some 3 MB of dtypes and 16 MB of arrays at most. */
#define MEMO_MAX_DTYPES ((size_t)1 << 12)
#define MEMO_MAX_ARRAYS ((size_t)1 << 14)

bool npy_dtype_parse(const pv_vm *vm, pv v, npy_dtype *dt)
{
    npy_memo *m = vm->array_memo;
    if (!m || !memo_usable(m, &m->dtypes, v)) return dtype_parse(vm, v, dt, true);
    const dtype_entry *e = recall(&m->dtypes, v.ref, sizeof *e);
    if (e) {
        *dt = e->dt;
        return e->ok;
    }
    dtype_entry fresh;
    fresh.ok = dtype_parse(vm, v, dt, true);
    fresh.dt = *dt;
    remember(&m->dtypes, v.ref, &fresh, sizeof fresh, MEMO_MAX_DTYPES);
    return fresh.ok;
}

static bool shape_parse(const pv_vm *vm, pv v, npy_array *arr)
{
    const pv_seq *s = pv_seq_of(vm, v);
    if (!s || s->kind != PV_TUPLE || s->n > NPY_MAX_DIMS) return false;
    arr->ndim = (int)s->n;
    uint64_t count = 1;
    for (size_t i = 0; i < s->n; i++) {
        int64_t d;
        if (!pv_int(s->items[i], &d) || d < 0) return false;
        arr->shape[i] = (uint64_t)d;
        if (!mul_ok(count, (uint64_t)d, &count)) return !(arr->impossible = 1);
    }
    arr->count = count;
    if (!mul_ok(count, arr->dtype.base.size, &arr->nbytes)) return !(arr->impossible = 1);
    return true;
}

/* Protocol 0's UNICODE text of a latin-1 str, as CPython writes it: the
 * five escaped characters (lowercase hex) and every other byte as is. */
static int rawuni_escape(const uint8_t *p, size_t left)
{
    static const char *esc[] = {"\\u005c", "\\u0000", "\\u000a", "\\u000d", "\\u001a"};
    static const uint8_t val[] = {'\\', 0, '\n', '\r', 0x1a};
    if (left < 6) return -1;
    for (int i = 0; i < 5; i++)
        if (memcmp(p, esc[i], 6) == 0) return val[i];
    return -1;
}

static bool rawuni_needs_escape(uint8_t c) { return c == '\\' || c == 0 || c == '\n' || c == '\r' || c == 0x1a; }

static bool rawuni_decode(const uint8_t *in, size_t n, uint8_t *out, size_t expect)
{
    size_t o = 0;
    for (size_t i = 0; i < n; o++) {
        if (o == expect) return false;
        int c = in[i] == '\\' ? rawuni_escape(in + i, n - i) : in[i];
        if (c < 0 || (in[i] != '\\' && rawuni_needs_escape(in[i]))) return false;
        if (out) out[o] = (uint8_t)c;
        i += in[i] == '\\' ? 6 : 1;
    }
    return o == expect;
}

static bool rawuni_canonical(const uint8_t *in, size_t n, uint64_t expect)
{
    return expect <= SIZE_MAX && rawuni_decode(in, n, NULL, (size_t)expect);
}

/* Python 2's repr of a str (Objects/stringobject.c, PyString_Repr), whose
 * quote the skeleton keeps: what cPickle writes for STRING. */
static size_t py2str_encode(const uint8_t *in, size_t n, uint8_t quote, uint8_t *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        if (c == quote || c == '\\') out[o++] = '\\', out[o++] = c;
        else if (c == '\t') out[o++] = '\\', out[o++] = 't';
        else if (c == '\n') out[o++] = '\\', out[o++] = 'n';
        else if (c == '\r') out[o++] = '\\', out[o++] = 'r';
        else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\', out[o++] = 'x';
            out[o++] = (uint8_t)hex[c >> 4], out[o++] = (uint8_t)hex[c & 15];
        } else out[o++] = c;
    }
    return o;
}

static int hexval(uint8_t c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* The inverse, for exactly the escapes the encoder writes; false on any
 * other form (then the array is left in the skeleton). out may be NULL. */
static bool py2str_decode(const uint8_t *in, size_t n, uint8_t quote, uint8_t *out, size_t expect)
{
    size_t o = 0;
    for (size_t i = 0; i < n; o++) {
        if (o == expect) return false;
        uint8_t c = in[i], v;
        if (c != '\\') {
            if (c == quote || c < 0x20 || c >= 0x7f) return false;
            v = c, i++;
        } else {
            if (i + 1 >= n) return false;
            uint8_t e = in[i + 1];
            if (e == quote || e == '\\') v = e, i += 2;
            else if (e == 't') v = '\t', i += 2;
            else if (e == 'n') v = '\n', i += 2;
            else if (e == 'r') v = '\r', i += 2;
            else if (e == 'x' && i + 3 < n && hexval(in[i + 2]) >= 0 && hexval(in[i + 3]) >= 0) {
                v = (uint8_t)(hexval(in[i + 2]) << 4 | hexval(in[i + 3]));
                if (!(v < 0x20 || v >= 0x7f) || v == '\t' || v == '\n' || v == '\r') return false; /* another form */
                i += 4;
            } else return false;
        }
        if (out) out[o] = v;
    }
    return o == expect;
}

bool npy_payload_decode(uint8_t payload, const uint8_t *in, size_t in_len, uint8_t *out, size_t expect)
{
    switch (payload) {
    case PAY_RAW:
        if (in_len != expect) return false;
        memcpy(out, in, in_len);
        return true;
    case PAY_LATIN1: return npy_latin1_decode(in, in_len, out, expect);
    case PAY_RAWUNI: return rawuni_decode(in, in_len, out, expect);
    case PAY_PY2STR_SQ: return py2str_decode(in, in_len, '\'', out, expect);
    case PAY_PY2STR_DQ: return py2str_decode(in, in_len, '"', out, expect);
    }
    return false;
}

size_t npy_payload_max(uint8_t payload, size_t n)
{
    return payload == PAY_RAWUNI                                   ? 6 * n
           : payload == PAY_PY2STR_SQ || payload == PAY_PY2STR_DQ ? 4 * n
           : payload == PAY_LATIN1                                ? 2 * n
                                                                  : n;
}

size_t npy_payload_encode(uint8_t payload, const uint8_t *in, size_t n, uint8_t *out)
{
    if (payload == PAY_LATIN1) return npy_latin1_encode(in, n, out);
    if (payload == PAY_PY2STR_SQ) return py2str_encode(in, n, '\'', out);
    if (payload == PAY_PY2STR_DQ) return py2str_encode(in, n, '"', out);
    if (payload != PAY_RAWUNI) {
        memcpy(out, in, n);
        return n;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (rawuni_needs_escape(in[i])) {
            static const char hex[] = "0123456789abcdef";
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = (uint8_t)hex[in[i] >> 4];
            out[o + 5] = (uint8_t)hex[in[i] & 15];
            o += 6;
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

/* Locate the payload: a bytes value, or _codecs.encode(str, 'latin1'). */
static bool payload_parse(const pv_vm *vm, pv data, npy_array *arr)
{
    if ((data.kind == PV_BYTES || data.kind == PV_BYTEARRAY ||
         (data.kind == PV_STR && data.enc == ENC_RAW)) && data.enc == ENC_RAW) {
        if (data.n != arr->nbytes) return !(arr->impossible = 1);
        arr->payload = PAY_RAW;
        arr->data_off = data.a;
        arr->data_len = data.n;
        return true;
    }
    if (data.kind == PV_STR && data.enc == ENC_ESCAPED && data.a > 0) {
        /* Python 2's protocol 0: a str in repr's form, between the quotes */
        uint8_t quote = vm->data[data.a - 1];
        arr->payload = quote == '"' ? PAY_PY2STR_DQ : PAY_PY2STR_SQ;
        if (data.n < arr->nbytes || data.n / 4 > arr->nbytes ||
            !py2str_decode(vm->data + data.a, (size_t)data.n, quote, NULL, (size_t)arr->nbytes))
            return false;
        /* a str with ' and no " is written between double quotes: the
         * other quote would not come back */
        bool has_sq = false, has_dq = false;
        for (uint64_t i = 0; i < data.n; i++) has_sq |= vm->data[data.a + i] == '\'', has_dq |= vm->data[data.a + i] == '"';
        if ((quote == '"') != (has_sq && !has_dq)) return false;
        arr->data_off = data.a;
        arr->data_len = data.n;
        return true;
    }
    const pv_obj *o = pv_obj_of(vm, data);
    if (!o || o->how != HOW_REDUCE || o->builds) return false;
    /* protocol 2 writes empty bytes as bytes(): nothing to splice */
    const pv_seq *noargs = pv_seq_of(vm, o->args);
    if (arr->nbytes == 0 && noargs && noargs->n == 0 && pv_is_global(vm, o->callable, "__builtin__|builtins", "bytes")) {
        arr->payload = PAY_RAW;
        arr->data_off = o->offset;
        arr->data_len = 0;
        return true;
    }
    if (!pv_is_global(vm, o->callable, "_codecs", "encode")) return false;
    const pv_seq *args = pv_seq_of(vm, o->args);
    if (!args || args->n != 2 || !pv_text_eq(vm, args->items[1], "latin1")) return false;
    pv text = args->items[0];
    if (text.kind != PV_STR) return false;
    if (text.enc == ENC_UTF8) {
        /* Each byte becomes one or two UTF-8 bytes: the text must be
         * exactly nbytes code points below 256, or the splice would not fit. */
        if (text.n < arr->nbytes || text.n / 2 > arr->nbytes ||
            !npy_latin1_decode(vm->data + text.a, (size_t)text.n, NULL, (size_t)arr->nbytes))
            return !(arr->impossible = 1);
        arr->payload = PAY_LATIN1;
    } else if (text.enc == ENC_RAW_UNICODE_ESCAPE) {
        /* protocol 0: one or six bytes each, and only in the writer's form */
        if (text.n < arr->nbytes || text.n / 6 > arr->nbytes || !rawuni_canonical(vm->data + text.a, text.n, arr->nbytes))
            return false;
        arr->payload = PAY_RAWUNI;
    } else {
        return false;
    }
    arr->data_off = text.a;
    arr->data_len = text.n;
    return true;
}

/* joblib: a NumpyArrayWrapper whose raw bytes the build hook found. */
static bool wrapper_parse(const pv_vm *vm, const pv_obj *o, npy_array *arr)
{
    if (o->extra_off < 0 || o->builds != 1) return false;
    pv dict = pv_state_dict(vm, o);
    const pv *dtype = pv_dict_get(vm, dict, "dtype");
    const pv *shape = pv_dict_get(vm, dict, "shape");
    const pv *order = pv_dict_get(vm, dict, "order");
    if (!dtype || !shape || !npy_dtype_parse(vm, *dtype, &arr->dtype)) return false;
    if (!shape_parse(vm, *shape, arr)) return false;
    arr->fortran = order && pv_text_eq(vm, *order, "F");
    /* the hook sized the data from the same state: a disagreement means
     * a dtype this parser reads differently, so leave the array alone */
    if (arr->nbytes != o->extra_len) return false;
    arr->payload = PAY_RAW;
    arr->data_off = (uint64_t)o->extra_off;
    arr->data_len = o->extra_len;
    return true;
}

static bool array_parse(const pv_vm *vm, pv v, npy_array *arr);

void npy_memo_attach(pv_vm *vm, npy_memo *m, bool arrays)
{
    memset(m, 0, sizeof *m);
    m->nobjs = vm->nobjs;
    m->dtypes.slot = calloc(vm->nobjs + 1, sizeof *m->dtypes.slot);
    if (arrays) m->arrays.slot = calloc(vm->nobjs + 1, sizeof *m->arrays.slot);
    vm->array_memo = m; /* a table without slots is simply not used */
}

void npy_memo_free(pv_vm *vm, npy_memo *m)
{
    if (vm->array_memo == m) vm->array_memo = NULL;
    free(m->arrays.slot);
    free(m->arrays.entries);
    free(m->dtypes.slot);
    free(m->dtypes.entries);
    memset(m, 0, sizeof *m);
}

bool npy_array_parse(const pv_vm *vm, pv v, npy_array *arr)
{
    npy_memo *m = vm->array_memo;
    if (!m || !memo_usable(m, &m->arrays, v)) return array_parse(vm, v, arr);
    const array_entry *e = recall(&m->arrays, v.ref, sizeof *e);
    if (e) {
        *arr = e->arr;
        return e->ok;
    }
    array_entry fresh;
    fresh.ok = array_parse(vm, v, arr);
    fresh.arr = *arr;
    remember(&m->arrays, v.ref, &fresh, sizeof fresh, MEMO_MAX_ARRAYS);
    return fresh.ok;
}

static bool array_parse(const pv_vm *vm, pv v, npy_array *arr)
{
    memset(arr, 0, sizeof *arr);
    const pv_obj *o = pv_obj_of(vm, v);
    /* only the joblib reading's hook (joblib.c) sets extra_off, and only
     * on a NumpyArrayWrapper */
    if (o && o->extra_off >= 0) return wrapper_parse(vm, o, arr);
    if (!o || o->how != HOW_REDUCE) return false;
    const pv_seq *args = pv_seq_of(vm, o->args);
    if (!args) return false;

    if (pv_is_global(vm, o->callable, NUMPY_MULTIARRAY, "_reconstruct")) {
        const pv_seq *st = pv_seq_of(vm, o->state);
        if (o->builds != 1 || !st || st->kind != PV_TUPLE || st->n != 5) return false;
        int64_t version;
        if (!pv_int(st->items[0], &version) || version != 1) return false;
        if (!npy_dtype_parse(vm, st->items[2], &arr->dtype)) return false;
        if (st->items[3].kind != PV_BOOL) return false;
        arr->fortran = st->items[3].a != 0;
        if (!shape_parse(vm, st->items[1], arr)) return false;
        return payload_parse(vm, st->items[4], arr);
    }
    if (pv_is_global(vm, o->callable, NUMPY_NUMERIC, "_frombuffer")) {
        /* _frombuffer(buf, dtype, shape, order[, ...]) */
        if (o->builds || args->n < 4) return false;
        if (!npy_dtype_parse(vm, args->items[1], &arr->dtype)) return false;
        char order[4];
        if (!str_arg(vm, args->items[3], order, sizeof order) || (strcmp(order, "C") && strcmp(order, "F")))
            return false;
        arr->fortran = order[0] == 'F';
        if (!shape_parse(vm, args->items[2], arr)) return false;
        return payload_parse(vm, args->items[0], arr);
    }
    return false;
}

bool npy_latin1_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t expect)
{
    size_t o = 0;
    for (size_t i = 0; i < in_len; i++) {
        if (o == expect) return false;
        uint8_t c = in[i];
        if (c < 0x80) {
            if (out) out[o] = c;
            o++;
        } else if ((c == 0xc2 || c == 0xc3) && i + 1 < in_len && (in[i + 1] & 0xc0) == 0x80) {
            if (out) out[o] = (uint8_t)(((c & 0x03) << 6) | (in[i + 1] & 0x3f));
            o++;
            i++;
        } else {
            return false;
        }
    }
    return o == expect;
}

size_t npy_latin1_encode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        if (c < 0x80) {
            out[o++] = c;
        } else {
            out[o++] = (uint8_t)(0xc0 | (c >> 6));
            out[o++] = (uint8_t)(0x80 | (c & 0x3f));
        }
    }
    return o;
}

tp_code npy_array_bytes(tp_ctx *ctx, const uint8_t *in, const npy_array *a, const uint8_t **p, uint8_t **owned)
{
    *owned = NULL;
    if (a->payload == PAY_RAW) {
        *p = in + a->data_off;
        return TP_OK;
    }
    uint8_t *buf = malloc(a->nbytes ? (size_t)a->nbytes : 1);
    if (!buf) return ctx_fail(ctx, TP_E_NOMEM, -1, "payload of %llu bytes", (unsigned long long)a->nbytes);
    if (!npy_payload_decode(a->payload, in + a->data_off, (size_t)a->data_len, buf, (size_t)a->nbytes)) {
        free(buf);
        return ctx_fail(ctx, TP_E_TREE, (int64_t)a->data_off, "a text payload does not decode to the array's size");
    }
    *p = buf;
    *owned = buf;
    return TP_OK;
}
