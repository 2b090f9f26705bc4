/*
 * pickle_vm.c - the symbolic pickle interpreter.
 *
 * Semantics follow CPython's Modules/_pickle.c: a stack with a fence at
 * the topmost MARK (nothing below it can be popped), a memo indexed by
 * integers, FRAMEs that opcodes may not straddle.  Differences are
 * deliberate: nothing is imported or called, and every resource is bounded.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pickle/pickle_vm.h"

/* ---- limits and memory ------------------------------------------------ */

void limits_apply_defaults(tp_limits *lim)
{
    if (!lim->max_stack) lim->max_stack = 1000000;
    if (!lim->max_marks) lim->max_marks = 100000;
    if (!lim->max_memo) lim->max_memo = 100000000;
    if (!lim->max_nesting) lim->max_nesting = 10000;
    if (!lim->max_memory) lim->max_memory = (uint64_t)4 << 30;
    if (!lim->max_opcodes) lim->max_opcodes = 1000000000;
}

void pv_vm_init(pv_vm *vm, tp_ctx *ctx, const uint8_t *data, size_t len, const tp_limits *lim)
{
    memset(vm, 0, sizeof *vm);
    vm->ctx = ctx;
    vm->data = data;
    vm->len = len;
    if (lim) vm->lim = *lim;
    limits_apply_defaults(&vm->lim);
}

void pv_vm_free(pv_vm *vm)
{
    for (size_t i = 0; i < vm->nseqs; i++)
        if (vm->seqs[i].own) free(vm->seqs[i].items);
    for (size_t i = 0; i < vm->nchunks; i++) free(vm->chunks[i]);
    free(vm->chunks);
    free(vm->seqs);
    free(vm->objs);
    free(vm->globals);
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
    free(vm->sparse_keys);
    free(vm->sparse_vals);
    free(vm->get_last);
    free(vm->frames);
    free(vm->puts);
    free(vm->effects);
    memset(vm, 0, sizeof *vm);
}

static int64_t here(const pv_vm *vm, const pickle_op *op) { return op ? (int64_t)op->offset : (int64_t)vm->pos; }

static tp_code over_limit(pv_vm *vm, const pickle_op *op)
{
    return ctx_fail(vm->ctx, TP_E_LIMIT_MEMORY, here(vm, op), "the interpreter would need more than %llu bytes",
                   (unsigned long long)vm->lim.max_memory);
}

/* The capacity to grow `cap` to for `need` elements of size elem: the
 * first time exactly what is asked (at least 4), then doubling.  0 when
 * that would not fit in size_t. */
static size_t next_cap(size_t cap, size_t need, size_t elem)
{
    size_t ncap = cap ? cap : need < 4 ? 4 : need;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem) return 0;
        ncap *= 2;
    }
    return ncap;
}

/* Grow *arr (with *cap elements of size elem) to hold at least `need`,
 * counting the bytes against the memory limit; a table's first size is
 * at least `first` when the limit leaves ample room for it.  The new part is left as
 * it is: every table is written before it is read, except get_last and
 * the memo, which are set up lazily (dense_slot).  Zeroing would also
 * touch, and so fault in, pages of a doubled table that are never used. */
static tp_code grow_from(pv_vm *vm, void **arr, size_t *cap, size_t need, size_t first, size_t elem,
                         const pickle_op *op)
{
    if (need <= *cap) return TP_OK;
    size_t ncap = next_cap(*cap, need, elem);
    if (!ncap) return ctx_fail(vm->ctx, TP_E_LIMIT_MEMORY, here(vm, op), "table too large");
    /* a first size only out of ample room: it must not be what makes a
     * tight memory limit fail */
    if (!*cap && ncap < first && (uint64_t)first * elem <= (vm->lim.max_memory - vm->mem) / 16) ncap = first;
    uint64_t more = (uint64_t)(ncap - *cap) * elem;
    if (vm->mem + more > vm->lim.max_memory) return over_limit(vm, op);
    void *p = realloc(*arr, ncap * elem);
    if (!p) return ctx_fail(vm->ctx, TP_E_NOMEM, here(vm, op), "interpreter tables");
    vm->mem += more;
    *arr = p;
    *cap = ncap;
    return TP_OK;
}

static tp_code grow(pv_vm *vm, void **arr, size_t *cap, size_t need, size_t elem, const pickle_op *op)
{
    return grow_from(vm, arr, cap, need, 0, elem, op);
}

/* A table that grows in the heap is copied, into fresh pages, at each
 * doubling: that was a fifth of the time of checking a pickle of many
 * small objects.  So the tables that grow with the input (objects,
 * containers, the memo) start at the size the input's length suggests,
 * one entry per `per` bytes, within bounds; pages of it that are never
 * reached are never touched. */
static size_t expect(const pv_vm *vm, size_t per)
{
    size_t n = vm->len / per;
    return n < 16 ? 16 : n > 65536 ? 65536 : n;
}

/* ---- sequence items: small ones from a pool ------------------------- */

/* Models hold thousands of small tuples and dicts.  Items of sequences
 * up to POOL_MAX_ITEMS long are carved, in order, out of chunks that are
 * never moved or freed before the interpreter is: no malloc per tuple,
 * and the items of neighbouring objects share pages.  A sequence that
 * outgrows its slot takes a new one (the old slot is not reused: what is
 * lost is at most what the sequence then holds); past POOL_MAX_ITEMS it
 * has a block of its own. */
#define POOL_MAX_ITEMS 32
#define POOL_CHUNK_MIN 256  /* items in the first chunk; each next one doubles, */
#define POOL_CHUNK_MAX 4096 /* up to this: a small pickle or a tight limit pays little */

static pv *pool_take(pv_vm *vm, size_t n, const pickle_op *op, tp_code *rc)
{
    *rc = TP_OK;
    if (vm->pool_left < n) {
        size_t items = vm->nchunks < 4 ? (size_t)POOL_CHUNK_MIN << vm->nchunks : POOL_CHUNK_MAX;
        uint64_t bytes = (uint64_t)items * sizeof(pv);
        if (vm->mem + bytes > vm->lim.max_memory) {
            *rc = over_limit(vm, op);
            return NULL;
        }
        if ((*rc = grow(vm, (void **)&vm->chunks, &vm->chunkcap, vm->nchunks + 1, sizeof *vm->chunks, op)))
            return NULL;
        pv *c = malloc((size_t)bytes);
        if (!c) {
            *rc = ctx_fail(vm->ctx, TP_E_NOMEM, here(vm, op), "interpreter tables");
            return NULL;
        }
        vm->mem += bytes;
        vm->chunks[vm->nchunks++] = c;
        vm->pool_next = c;
        vm->pool_left = items;
    }
    pv *p = vm->pool_next;
    vm->pool_next += n;
    vm->pool_left -= n;
    return p;
}

/* Room in s for at least `need` items. */
static tp_code seq_reserve(pv_vm *vm, pv_seq *s, size_t need, const pickle_op *op)
{
    if (need <= s->cap) return TP_OK;
    size_t ncap = next_cap(s->cap, need, sizeof(pv));
    if (!ncap || ncap > UINT32_MAX)
        return ctx_fail(vm->ctx, TP_E_LIMIT_MEMORY, here(vm, op), "a container of more than 2^31 items");
    tp_code rc = TP_OK;
    if (ncap <= POOL_MAX_ITEMS || !s->own) {
        pv *p = ncap <= POOL_MAX_ITEMS ? pool_take(vm, ncap, op, &rc) : NULL;
        if (ncap > POOL_MAX_ITEMS) { /* leaving the pool */
            if (vm->mem + (uint64_t)ncap * sizeof(pv) > vm->lim.max_memory) return over_limit(vm, op);
            if (!(p = malloc(ncap * sizeof(pv)))) return ctx_fail(vm->ctx, TP_E_NOMEM, here(vm, op), "interpreter tables");
            vm->mem += (uint64_t)ncap * sizeof(pv);
            s->own = true;
        }
        if (!p) return rc;
        if (s->n) memcpy(p, s->items, s->n * sizeof(pv));
        s->items = p;
        s->cap = (uint32_t)ncap;
        return TP_OK;
    }
    size_t cap = s->cap;
    if ((rc = grow(vm, (void **)&s->items, &cap, need, sizeof(pv), op))) return rc;
    s->cap = (uint32_t)cap; /* ncap: the same doubling */
    return TP_OK;
}

static const char *kind_name(uint8_t k)
{
    static const char *names[] = {"None", "bool", "int", "int", "float", "str", "bytes", "bytearray",
                                  "tuple", "list", "dict", "set", "frozenset", "global", "object"};
    return k < ARRAY_LEN(names) ? names[k] : "nothing";
}

static bool is_container(uint8_t k) { return k >= PV_TUPLE && k <= PV_FROZENSET; }

/* ---- stack ------------------------------------------------------------ */

static size_t fence(const pv_vm *vm) { return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0; }

static NOINLINE tp_code push_slow(pv_vm *vm, const pv *v, const pickle_op *op)
{
    if (vm->sp >= vm->lim.max_stack)
        return ctx_fail(vm->ctx, TP_E_LIMIT_STACK, here(vm, op), "more than %llu values on the stack",
                       (unsigned long long)vm->lim.max_stack);
    tp_code rc = grow(vm, (void **)&vm->stack, &vm->scap, vm->sp + 1, sizeof(pv), op);
    if (rc) return rc;
    vm->stack[vm->sp++] = *v;
    return TP_OK;
}

/* Inline, so that a value is built where it goes: passed to a call it
 * is stored field by field and loaded whole, a load the processor cannot
 * forward from its pending stores (the profile's hottest instruction). */
static inline tp_code push(pv_vm *vm, pv v, const pickle_op *op)
{
    if (LIKELY(vm->sp < vm->scap && vm->sp < vm->lim.max_stack)) {
        vm->stack[vm->sp++] = v;
        return TP_OK;
    }
    return push_slow(vm, &v, op);
}

/* A value that refers to no table, written in place (see push). */
static inline tp_code push_scalar(pv_vm *vm, uint8_t kind, uint8_t enc, uint64_t a, uint64_t n, const pickle_op *op)
{
    if (LIKELY(vm->sp < vm->scap && vm->sp < vm->lim.max_stack)) {
        pv *d = &vm->stack[vm->sp++];
        *d = (pv){.kind = kind, .enc = enc, .a = a, .n = n};
        return TP_OK;
    }
    pv v = {.kind = kind, .enc = enc, .a = a, .n = n};
    return push_slow(vm, &v, op);
}

/* Callers have checked the depth against the fence already. */
static pv pop(pv_vm *vm) { return vm->stack[--vm->sp]; }
static pv *top(pv_vm *vm) { return &vm->stack[vm->sp - 1]; }

static tp_code underflow(pv_vm *vm, const pickle_op *op)
{
    return ctx_fail(vm->ctx, TP_E_STACK_UNDERFLOW, here(vm, op), "%s pops more values than there are",
                   op->info->name);
}

/* A GET or DUP of an object not built yet: see pv_obj.early_ref. */
static inline void note_second_ref(pv_vm *vm, pv v)
{
    if (v.kind == PV_OBJECT && v.ref < vm->nobjs && !vm->objs[v.ref].builds) vm->objs[v.ref].early_ref = 1;
}

/* ---- memo: dense for the usual 0,1,2,... indices, sparse beyond ------- */

static pv *sparse_slot(pv_vm *vm, uint64_t idx, bool insert, const pickle_op *op, tp_code *rc)
{
    *rc = TP_OK;
    if (insert && (vm->sparse_n + 1) * 2 > vm->sparse_cap) {
        size_t ncap = vm->sparse_cap ? vm->sparse_cap * 2 : 64;
        uint64_t bytes = (uint64_t)ncap * (sizeof(uint64_t) + sizeof(pv));
        if (vm->mem + bytes > vm->lim.max_memory) {
            *rc = ctx_fail(vm->ctx, TP_E_LIMIT_MEMORY, here(vm, op), "memo too large");
            return NULL;
        }
        uint64_t *keys = calloc(ncap, sizeof *keys);
        pv *vals = calloc(ncap, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            *rc = ctx_fail(vm->ctx, TP_E_NOMEM, here(vm, op), "memo");
            return NULL;
        }
        for (size_t i = 0; i < vm->sparse_cap; i++) {
            if (!vm->sparse_keys[i]) continue;
            size_t j = (size_t)(vm->sparse_keys[i] * 0x9E3779B97F4A7C15ull) & (ncap - 1);
            while (keys[j]) j = (j + 1) & (ncap - 1);
            keys[j] = vm->sparse_keys[i];
            vals[j] = vm->sparse_vals[i];
        }
        vm->mem += bytes;
        vm->mem -= (uint64_t)vm->sparse_cap * (sizeof(uint64_t) + sizeof(pv));
        free(vm->sparse_keys);
        free(vm->sparse_vals);
        vm->sparse_keys = keys;
        vm->sparse_vals = vals;
        vm->sparse_cap = ncap;
    }
    if (!vm->sparse_cap) return NULL;
    uint64_t key = idx + 1;
    size_t j = (size_t)(key * 0x9E3779B97F4A7C15ull) & (vm->sparse_cap - 1);
    while (vm->sparse_keys[j] && vm->sparse_keys[j] != key) j = (j + 1) & (vm->sparse_cap - 1);
    if (!vm->sparse_keys[j]) {
        if (!insert) return NULL;
        vm->sparse_keys[j] = key;
        vm->sparse_vals[j].kind = PV_UNSET;
        vm->sparse_n++;
    }
    return &vm->sparse_vals[j];
}

/* The dense part is set up lazily: slots below memo_hw hold a value or
 * PV_UNSET, those from memo_hw up to memo_cap are unwritten and count as
 * unset.  So a new pickle costs nothing to clear, and the pages of a
 * doubled table that no index reaches are never touched.  idx < memo_cap. */
static pv *dense_slot(pv_vm *vm, size_t idx)
{
    while (vm->memo_hw <= idx) vm->memo[vm->memo_hw++].kind = PV_UNSET;
    return &vm->memo[idx];
}

/* After the dense part grew, entries that were sparse may now belong to
 * it: move them, so that each index lives in exactly one place. */
static void sparse_to_dense(pv_vm *vm)
{
    size_t kept = 0;
    for (size_t i = 0; i < vm->sparse_cap; i++) {
        uint64_t key = vm->sparse_keys[i];
        if (key && key - 1 < vm->memo_cap) *dense_slot(vm, (size_t)key - 1) = vm->sparse_vals[i];
        else if (key) kept++;
    }
    if (kept == vm->sparse_n) return;
    /* Rebuild the table without the moved entries (linear probing has no
     * simple delete). */
    uint64_t *keys = vm->sparse_keys;
    pv *vals = vm->sparse_vals;
    size_t cap = vm->sparse_cap;
    for (size_t i = 0; i < cap; i++)
        if (keys[i] && keys[i] - 1 < vm->memo_cap) keys[i] = 0;
    uint64_t *tmpk = malloc(cap * sizeof *tmpk);
    pv *tmpv = malloc(cap * sizeof *tmpv);
    if (!tmpk || !tmpv) { /* keep the stale copies: lookups hit dense first */
        free(tmpk);
        free(tmpv);
        return;
    }
    memcpy(tmpk, keys, cap * sizeof *tmpk);
    memcpy(tmpv, vals, cap * sizeof *tmpv);
    memset(keys, 0, cap * sizeof *keys);
    for (size_t i = 0; i < cap; i++) {
        if (!tmpk[i]) continue;
        size_t j = (size_t)(tmpk[i] * 0x9E3779B97F4A7C15ull) & (cap - 1);
        while (keys[j]) j = (j + 1) & (cap - 1);
        keys[j] = tmpk[i];
        vals[j] = tmpv[i];
    }
    vm->sparse_n = kept;
    free(tmpk);
    free(tmpv);
}

static tp_code memo_put(pv_vm *vm, uint64_t idx, pv v, const pickle_op *op)
{
    pv *slot;
    tp_code rc = TP_OK;
    if (idx < vm->memo_cap) {
        slot = dense_slot(vm, (size_t)idx);
    } else if (idx < 2 * vm->memo_count + 4096) {
        /* Indices close to the count are the common case: keep them dense. */
        if ((rc = grow_from(vm, (void **)&vm->memo, &vm->memo_cap, (size_t)idx + 1, expect(vm, 32), sizeof(pv), op)))
            return rc;
        sparse_to_dense(vm);
        slot = dense_slot(vm, (size_t)idx);
    } else {
        /* A huge index (LONG_BINPUT 0xFFFFFFFF) costs one sparse slot. */
        slot = sparse_slot(vm, idx, true, op, &rc);
        if (!slot) return rc;
    }
    if (slot->kind == PV_UNSET) {
        if (vm->memo_count >= vm->lim.max_memo)
            return ctx_fail(vm->ctx, TP_E_LIMIT_MEMO, here(vm, op), "more than %llu memo entries",
                           (unsigned long long)vm->lim.max_memo);
        vm->memo_count++;
    }
    *slot = v;
    return TP_OK;
}

/* See pv_vm.log_puts.  Only rising indices: a stream of BINPUT 0 costs
 * one entry, and the log never outgrows the memo. */
static tp_code log_put(pv_vm *vm, uint64_t idx, const pickle_op *op)
{
    if (!vm->log_puts || idx == UINT64_MAX || idx + 1 <= vm->last_put) return TP_OK;
    tp_code rc = grow(vm, (void **)&vm->puts, &vm->putcap, vm->nputs + 1, sizeof *vm->puts, op);
    if (rc) return rc;
    vm->puts[vm->nputs++] = op->offset;
    vm->last_put = idx + 1;
    return TP_OK;
}

static tp_code do_put(pv_vm *vm, const pickle_op *op)
{
    tp_code rc = log_put(vm, (uint64_t)op->ival, op);
    return rc ? rc : memo_put(vm, (uint64_t)op->ival, *top(vm), op);
}

static tp_code memo_get(pv_vm *vm, int64_t idx, const pickle_op *op)
{
    const pv *slot = NULL;
    tp_code rc = TP_OK;
    if (idx >= 0 && (uint64_t)idx < vm->memo_cap) slot = (uint64_t)idx < vm->memo_hw ? &vm->memo[idx] : NULL;
    else if (idx >= 0) slot = sparse_slot(vm, (uint64_t)idx, false, op, &rc);
    if (!slot || slot->kind == PV_UNSET)
        return ctx_fail(vm->ctx, TP_E_MEMO_MISSING, here(vm, op), "%s %lld: no such memo entry",
                       op->info->name, (long long)idx);
    note_second_ref(vm, *slot);
    if (vm->skip_gets) {
        /* nobody reads them */
    } else if ((uint64_t)idx < vm->memo_cap) {
        /* zeroed lazily too: entries from get_hw on are 0 (pv_last_get) */
        if ((rc = grow(vm, (void **)&vm->get_last, &vm->get_cap, vm->memo_cap, sizeof(uint64_t), op))) return rc;
        while (vm->get_hw <= (size_t)idx) vm->get_last[vm->get_hw++] = 0;
        if (vm->get_last[idx] < op->offset + 1) vm->get_last[idx] = op->offset + 1;
    } else {
        vm->get_beyond = true;
    }
    return push(vm, *slot, op);
}

/* ---- containers, objects, globals ------------------------------------- */

static tp_code note_child(pv_vm *vm, pv_seq *s, uint32_t self, pv child, const pickle_op *op)
{
    if (!is_container(child.kind) || child.ref == self) return TP_OK;
    uint32_t d = vm->seqs[child.ref].depth + 1;
    if (d > s->depth) {
        if (d > vm->lim.max_nesting)
            return ctx_fail(vm->ctx, TP_E_LIMIT_NESTING, here(vm, op), "containers nested more than %llu deep",
                           (unsigned long long)vm->lim.max_nesting);
        s->depth = d;
    }
    return TP_OK;
}

static tp_code seq_append(pv_vm *vm, uint32_t ref, const pv *items, size_t n, const pickle_op *op)
{
    pv_seq *s = &vm->seqs[ref];
    tp_code rc = seq_reserve(vm, s, s->n + n, op);
    if (rc) return rc;
    s->last_mod = op->offset;
    for (size_t i = 0; i < n; i++) {
        if ((rc = note_child(vm, s, ref, items[i], op))) return rc;
        s->items[s->n++] = items[i];
    }
    return TP_OK;
}

static tp_code new_seq(pv_vm *vm, uint8_t kind, const pv *items, size_t n, const pickle_op *op, pv *out)
{
    if (vm->nseqs >= UINT32_MAX) return ctx_fail(vm->ctx, TP_E_LIMIT_MEMORY, here(vm, op), "too many containers");
    tp_code rc = grow_from(vm, (void **)&vm->seqs, &vm->seqcap, vm->nseqs + 1, expect(vm, 64), sizeof(pv_seq), op);
    if (rc) return rc;
    uint32_t ref = (uint32_t)vm->nseqs++;
    pv_seq *s = &vm->seqs[ref];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->offset = op->offset;
    s->last_mod = op->offset;
    s->memo_at = vm->memo_count;
    if (n && (rc = seq_append(vm, ref, items, n, op))) return rc;
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->ref = ref;
    return TP_OK;
}

static tp_code new_obj(pv_vm *vm, uint8_t how, pv callable, pv args, pv kwargs, const pickle_op *op)
{
    if (vm->nobjs >= UINT32_MAX) return ctx_fail(vm->ctx, TP_E_LIMIT_MEMORY, here(vm, op), "too many objects");
    tp_code rc = grow_from(vm, (void **)&vm->objs, &vm->objcap, vm->nobjs + 1, expect(vm, 192), sizeof(pv_obj), op);
    if (rc) return rc;
    pv_obj *o = &vm->objs[vm->nobjs];
    memset(o, 0, sizeof *o);
    o->how = how;
    o->opcode = op->info->code;
    o->callable = callable;
    o->args = args;
    o->kwargs = kwargs;
    o->offset = op->offset;
    o->tag = -1;
    o->extra_off = -1;
    pv v = {.kind = PV_OBJECT, .ref = (uint32_t)vm->nobjs++};
    return push(vm, v, op);
}

static tp_code new_global(pv_vm *vm, pv module, pv name, int32_t ext, const pickle_op *op, pv *out)
{
    if (vm->nglobals >= UINT32_MAX) return ctx_fail(vm->ctx, TP_E_LIMIT_MEMORY, here(vm, op), "too many globals");
    tp_code rc = grow(vm, (void **)&vm->globals, &vm->globcap, vm->nglobals + 1, sizeof(pv_global), op);
    if (rc) return rc;
    pv_global *g = &vm->globals[vm->nglobals];
    g->module = module;
    g->name = name;
    g->opcode = op->info->code;
    g->ext_code = ext;
    g->offset = op->offset;
    memset(out, 0, sizeof *out);
    out->kind = PV_GLOBAL;
    out->ref = (uint32_t)vm->nglobals++;
    return TP_OK;
}

static pv text_val(uint8_t kind, uint8_t enc, uint64_t at, uint64_t n)
{
    pv v = {.kind = kind, .enc = enc, .a = at, .n = n};
    return v;
}

static tp_code type_error(pv_vm *vm, const pickle_op *op, const char *want, pv got)
{
    return ctx_fail(vm->ctx, TP_E_TYPE, here(vm, op), "%s needs %s, found %s", op->info->name, want,
                   kind_name(got.kind));
}

static tp_code note_effect(pv_vm *vm, const pickle_op *op, pv target, pv state)
{
    tp_code rc = grow(vm, (void **)&vm->effects, &vm->effcap, vm->neffects + 1, sizeof *vm->effects, op);
    if (rc) return rc;
    pv_effect *e = &vm->effects[vm->neffects++];
    memset(e, 0, sizeof *e);
    e->opcode = op->info->code;
    e->offset = op->offset;
    e->target = target;
    e->state = state;
    return TP_OK;
}

/* APPEND(S), SETITEM(S) or ADDITEMS on something else than the list,
 * dict or set they are meant for.  CPython then calls the target's
 * append/extend, __setitem__ or add: on an object, a global, and for
 * item assignment on a list or bytearray, that works, so the run goes on
 * and the verdict judges it; on the other kinds CPython fails as the
 * interpreter does. */
static tp_code container_effect(pv_vm *vm, const pickle_op *op, pv target, uint8_t want)
{
    bool works = target.kind == PV_OBJECT || target.kind == PV_GLOBAL ||
                 (want == PV_DICT && (target.kind == PV_LIST || target.kind == PV_BYTEARRAY)) ||
                 (want == PV_LIST && target.kind == PV_BYTEARRAY);
    if (works) return note_effect(vm, op, target, (pv){0});
    return type_error(vm, op, want == PV_LIST ? "a list" : want == PV_DICT ? "a dict" : "a set", target);
}

/* ---- opcode handlers --------------------------------------------------- */

static tp_code do_int(pv_vm *vm, const pickle_op *op)
{
    if (op->is_bool) return push_scalar(vm, PV_BOOL, 0, (uint64_t)op->ival, 0, op);
    if (op->big) return push_scalar(vm, PV_BIGINT, ENC_DECIMAL, op->data, op->size, op);
    return push_scalar(vm, PV_INT, 0, (uint64_t)op->ival, 0, op);
}

static tp_code do_long_binary(pv_vm *vm, const pickle_op *op)
{
    if (op->size > 8) return push_scalar(vm, PV_BIGINT, ENC_LONG_LE, op->data, op->size, op);
    uint64_t u = 0;
    for (uint64_t i = 0; i < op->size; i++) u |= (uint64_t)vm->data[op->data + i] << (8 * i);
    if (op->size && op->size < 8 && (vm->data[op->data + op->size - 1] & 0x80))
        u |= ~(uint64_t)0 << (8 * op->size); /* sign-extend */
    return push_scalar(vm, PV_INT, 0, u, 0, op);
}

/* Items between the topmost MARK and the top: [*start, sp). Pops the mark. */
static tp_code take_mark(pv_vm *vm, const pickle_op *op, size_t *start)
{
    if (!vm->nmarks)
        return ctx_fail(vm->ctx, TP_E_NO_MARK, here(vm, op), "%s needs a MARK and there is none", op->info->name);
    *start = vm->marks[--vm->nmarks];
    return TP_OK;
}

static tp_code do_marked(pv_vm *vm, const pickle_op *op)
{
    size_t m = 0;
    tp_code rc = take_mark(vm, op, &m);
    if (rc) return rc;
    size_t n = vm->sp - m;
    pv *items = n ? vm->stack + m : NULL;
    /* What sits below the mark (the target of APPENDS etc.) must be above
     * the fence that is now in force. */
    if (m - fence(vm) < op->info->pops) return underflow(vm, op);
    pv v;
    switch (op->info->code) {
    case OP_LIST:
    case OP_TUPLE:
    case OP_FROZENSET: {
        uint8_t k = op->info->code == OP_LIST ? PV_LIST : op->info->code == OP_TUPLE ? PV_TUPLE : PV_FROZENSET;
        if ((rc = new_seq(vm, k, items, n, op, &v))) return rc;
        vm->sp = m;
        return push(vm, v, op);
    }
    case OP_DICT:
        if (n % 2) return ctx_fail(vm->ctx, TP_E_TYPE, here(vm, op), "DICT with an odd number of items");
        if ((rc = new_seq(vm, PV_DICT, items, n, op, &v))) return rc;
        vm->sp = m;
        return push(vm, v, op);
    case OP_POP_MARK:
        vm->sp = m;
        return TP_OK;
    case OP_APPENDS:
    case OP_SETITEMS:
    case OP_ADDITEMS: {
        pv target = vm->stack[m - 1];
        uint8_t want = op->info->code == OP_APPENDS ? PV_LIST : op->info->code == OP_SETITEMS ? PV_DICT : PV_SET;
        if (op->info->code == OP_SETITEMS && n % 2)
            return ctx_fail(vm->ctx, TP_E_TYPE, here(vm, op), "SETITEMS with an odd number of items");
        if (target.kind == want) rc = seq_append(vm, target.ref, items, n, op);
        else if ((rc = container_effect(vm, op, target, want))) return rc;
        vm->sp = m;
        return rc;
    }
    case OP_OBJ: {
        if (n < 1) return ctx_fail(vm->ctx, TP_E_STACK_UNDERFLOW, here(vm, op), "OBJ needs a class after the MARK");
        pv cls = items[0], args;
        if ((rc = new_seq(vm, PV_TUPLE, items + 1, n - 1, op, &args))) return rc;
        vm->sp = m;
        return new_obj(vm, HOW_OBJ, cls, args, (pv){0}, op);
    }
    case OP_INST: {
        pv args, g;
        if ((rc = new_seq(vm, PV_TUPLE, items, n, op, &args))) return rc;
        vm->sp = m;
        pv mod = text_val(PV_STR, ENC_UTF8, op->data, op->size);
        pv name = text_val(PV_STR, ENC_UTF8, op->data2, op->size2);
        if ((rc = new_global(vm, mod, name, 0, op, &g))) return rc;
        return new_obj(vm, HOW_INST, g, args, (pv){0}, op);
    }
    }
    return ctx_fail(vm->ctx, TP_E_INTERNAL, here(vm, op), "unhandled marked opcode %s", op->info->name);
}

static tp_code do_tuple_n(pv_vm *vm, const pickle_op *op, size_t n)
{
    pv v;
    tp_code rc = new_seq(vm, PV_TUPLE, vm->stack + vm->sp - n, n, op, &v);
    if (rc) return rc;
    vm->sp -= n;
    return push(vm, v, op);
}

static tp_code do_empty(pv_vm *vm, const pickle_op *op, uint8_t kind)
{
    pv v;
    tp_code rc = new_seq(vm, kind, NULL, 0, op, &v);
    return rc ? rc : push(vm, v, op);
}

static tp_code do_append(pv_vm *vm, const pickle_op *op)
{
    pv v = pop(vm);
    pv target = *top(vm);
    if (target.kind == PV_LIST) return seq_append(vm, target.ref, &v, 1, op);
    return container_effect(vm, op, target, PV_LIST);
}

static tp_code do_setitem(pv_vm *vm, const pickle_op *op)
{
    pv kv[2];
    kv[1] = pop(vm);
    kv[0] = pop(vm);
    pv target = *top(vm);
    if (target.kind == PV_DICT) return seq_append(vm, target.ref, kv, 2, op);
    return container_effect(vm, op, target, PV_DICT);
}

static tp_code do_stack_global(pv_vm *vm, const pickle_op *op)
{
    pv name = pop(vm);
    pv mod = pop(vm);
    if (mod.kind != PV_STR || name.kind != PV_STR)
        return ctx_fail(vm->ctx, TP_E_TYPE, here(vm, op), "STACK_GLOBAL requires two str, found %s and %s",
                       kind_name(mod.kind), kind_name(name.kind));
    pv g;
    tp_code rc = new_global(vm, mod, name, 0, op, &g);
    return rc ? rc : push(vm, g, op);
}

static tp_code do_reduce(pv_vm *vm, const pickle_op *op)
{
    pv args = pop(vm);
    pv callable = pop(vm);
    if (args.kind != PV_TUPLE) return type_error(vm, op, "a tuple of arguments", args);
    return new_obj(vm, HOW_REDUCE, callable, args, (pv){0}, op);
}

static tp_code do_newobj(pv_vm *vm, const pickle_op *op)
{
    pv kwargs = {0};
    if (op->info->code == OP_NEWOBJ_EX) {
        kwargs = pop(vm);
        if (kwargs.kind != PV_DICT) return type_error(vm, op, "a dict of keyword arguments", kwargs);
    }
    pv args = pop(vm);
    pv cls = pop(vm);
    if (args.kind != PV_TUPLE) return type_error(vm, op, "a tuple of arguments", args);
    return new_obj(vm, op->info->code == OP_NEWOBJ ? HOW_NEWOBJ : HOW_NEWOBJ_EX, cls, args, kwargs, op);
}

static tp_code do_build(pv_vm *vm, const pickle_op *op)
{
    pv state = pop(vm);
    pv obj = *top(vm);
    /* On a global Python sets attributes of the class, function or
     * module; on other values it fails or does nothing.  Either way not
     * what a model does: the verdict refuses it. */
    if (obj.kind != PV_OBJECT) return note_effect(vm, op, obj, state);
    pv_obj *o = &vm->objs[obj.ref];
    o->state = state;
    o->build_offset = op->offset;
    if (o->builds < UINT16_MAX) o->builds++;
    return vm->build_hook ? vm->build_hook(vm, obj, vm->hook_opaque) : TP_OK;
}

static tp_code do_ext(pv_vm *vm, const pickle_op *op)
{
    if (op->ival <= 0) return ctx_fail(vm->ctx, TP_E_BAD_ARGUMENT, here(vm, op), "%s code must be positive", op->info->name);
    pv g;
    tp_code rc = new_global(vm, (pv){0}, (pv){0}, (int32_t)op->ival, op, &g);
    return rc ? rc : push(vm, g, op);
}

static bool lax_frames(const pv_vm *vm) { return vm->lax_frames || vm->nested; }

static tp_code do_frame(pv_vm *vm, const pickle_op *op)
{
    if (vm->frame_end && !lax_frames(vm))
        return ctx_fail(vm->ctx, TP_E_FRAME, here(vm, op), "a FRAME begins before the previous frame ends");
    if ((uint64_t)op->ival > vm->len - vm->pos)
        return ctx_fail(vm->ctx, TP_E_TRUNCATED, here(vm, op), "FRAME declares %lld bytes, %zu remain",
                       (long long)op->ival, vm->len - vm->pos);
    tp_code rc = grow(vm, (void **)&vm->frames, &vm->framecap, vm->nframes + 1, sizeof *vm->frames, op);
    if (rc) return rc;
    vm->frames[vm->nframes][0] = op->offset;
    vm->frames[vm->nframes][1] = (uint64_t)op->ival;
    vm->nframes++;
    vm->frame_end = vm->pos + (size_t)op->ival;
    if (vm->frame_end == vm->pos || lax_frames(vm)) vm->frame_end = 0;
    return TP_OK;
}

static tp_code do_pop(pv_vm *vm, const pickle_op *op)
{
    /* As in CPython: POP right after a MARK discards the mark. */
    if (vm->nmarks && vm->marks[vm->nmarks - 1] == vm->sp) {
        vm->nmarks--;
        return TP_OK;
    }
    if (vm->sp <= fence(vm)) return underflow(vm, op);
    vm->sp--;
    return TP_OK;
}

static tp_code do_mark(pv_vm *vm, const pickle_op *op)
{
    if (vm->nmarks >= vm->lim.max_marks)
        return ctx_fail(vm->ctx, TP_E_LIMIT_MARKS, here(vm, op), "more than %llu open MARKs",
                       (unsigned long long)vm->lim.max_marks);
    tp_code rc = grow(vm, (void **)&vm->marks, &vm->mcap, vm->nmarks + 1, sizeof(size_t), op);
    if (rc) return rc;
    vm->marks[vm->nmarks++] = vm->sp;
    return TP_OK;
}

static tp_code execute(pv_vm *vm, const pickle_op *op)
{
    const opinfo *in = op->info;
    if (in->mark) return do_marked(vm, op);
    if (in->code == OP_POP) return do_pop(vm, op);
    if (vm->sp - fence(vm) < in->pops) return underflow(vm, op);

    pv v = {0};
    switch (in->code) {
    case OP_PROTO:
        if (op->ival > PICKLE_MAX_PROTOCOL)
            return ctx_fail(vm->ctx, TP_E_PROTOCOL, here(vm, op), "protocol %lld (this reader knows 0 to 5)",
                           (long long)op->ival);
        vm->proto = (int)op->ival;
        if (vm->proto > vm->max_proto) vm->max_proto = vm->proto;
        return TP_OK;
    case OP_FRAME: return do_frame(vm, op);
    case OP_INT:
    case OP_LONG: return do_int(vm, op);
    case OP_BININT:
    case OP_BININT1:
    case OP_BININT2: return push_scalar(vm, PV_INT, 0, (uint64_t)op->ival, 0, op);
    case OP_LONG1:
    case OP_LONG4: return do_long_binary(vm, op);
    case OP_FLOAT:
    case OP_BINFLOAT: return push_scalar(vm, PV_FLOAT, 0, f64_to_bits(op->fval), 0, op);
    case OP_STRING: return push_scalar(vm, PV_STR, ENC_ESCAPED, op->data, op->size, op);
    case OP_BINSTRING:
    case OP_SHORT_BINSTRING: return push_scalar(vm, PV_STR, ENC_RAW, op->data, op->size, op);
    case OP_UNICODE: return push_scalar(vm, PV_STR, ENC_RAW_UNICODE_ESCAPE, op->data, op->size, op);
    case OP_BINUNICODE:
    case OP_SHORT_BINUNICODE:
    case OP_BINUNICODE8: return push_scalar(vm, PV_STR, ENC_UTF8, op->data, op->size, op);
    case OP_BINBYTES:
    case OP_SHORT_BINBYTES:
    case OP_BINBYTES8: return push_scalar(vm, PV_BYTES, ENC_RAW, op->data, op->size, op);
    case OP_BYTEARRAY8: return push_scalar(vm, PV_BYTEARRAY, ENC_RAW, op->data, op->size, op);
    case OP_NONE: return push_scalar(vm, PV_NONE, 0, 0, 0, op);
    case OP_NEWTRUE:
    case OP_NEWFALSE: return push_scalar(vm, PV_BOOL, 0, in->code == OP_NEWTRUE, 0, op);
    case OP_EMPTY_LIST: return do_empty(vm, op, PV_LIST);
    case OP_EMPTY_TUPLE: return do_empty(vm, op, PV_TUPLE);
    case OP_EMPTY_DICT: return do_empty(vm, op, PV_DICT);
    case OP_EMPTY_SET: return do_empty(vm, op, PV_SET);
    case OP_TUPLE1: return do_tuple_n(vm, op, 1);
    case OP_TUPLE2: return do_tuple_n(vm, op, 2);
    case OP_TUPLE3: return do_tuple_n(vm, op, 3);
    case OP_APPEND: return do_append(vm, op);
    case OP_SETITEM: return do_setitem(vm, op);
    case OP_DUP: note_second_ref(vm, *top(vm)); return push(vm, *top(vm), op);
    case OP_MARK: return do_mark(vm, op);
    case OP_GET:
        if (op->big) return ctx_fail(vm->ctx, TP_E_MEMO_MISSING, here(vm, op), "GET of a huge index");
        return memo_get(vm, op->ival, op);
    case OP_BINGET:
    case OP_LONG_BINGET: return memo_get(vm, op->ival, op);
    case OP_PUT:
        if (op->big || op->ival < 0) return ctx_fail(vm->ctx, TP_E_BAD_ARGUMENT, here(vm, op), "PUT index out of range");
        return do_put(vm, op);
    case OP_BINPUT:
    case OP_LONG_BINPUT: return do_put(vm, op);
    case OP_MEMOIZE: return memo_put(vm, vm->memo_count, *top(vm), op);
    case OP_GLOBAL: {
        tp_code rc = new_global(vm, text_val(PV_STR, ENC_UTF8, op->data, op->size),
                                text_val(PV_STR, ENC_UTF8, op->data2, op->size2), 0, op, &v);
        return rc ? rc : push(vm, v, op);
    }
    case OP_STACK_GLOBAL: return do_stack_global(vm, op);
    case OP_EXT1:
    case OP_EXT2:
    case OP_EXT4: return do_ext(vm, op);
    case OP_REDUCE: return do_reduce(vm, op);
    case OP_NEWOBJ:
    case OP_NEWOBJ_EX: return do_newobj(vm, op);
    case OP_BUILD: return do_build(vm, op);
    case OP_PERSID:
        return new_obj(vm, HOW_PERSID, (pv){0}, text_val(PV_STR, ENC_RAW, op->data, op->size), (pv){0}, op);
    case OP_BINPERSID: {
        pv pid = pop(vm);
        return new_obj(vm, HOW_PERSID, (pv){0}, pid, (pv){0}, op);
    }
    case OP_NEXT_BUFFER:
    case OP_READONLY_BUFFER:
        return ctx_fail(vm->ctx, TP_E_OUT_OF_BAND, here(vm, op),
                       "%s refers to a protocol 5 buffer passed outside the pickle; "
                       "the file alone cannot be loaded", in->name);
    case OP_STOP:
        vm->result = pop(vm);
        return TP_OK;
    }
    return ctx_fail(vm->ctx, TP_E_INTERNAL, here(vm, op), "opcode %s has no handler", in->name);
}

tp_code pv_vm_run(pv_vm *vm)
{
    vm->sp = 0;
    vm->nmarks = 0;
    vm->frame_end = 0;
    vm->proto = 0;
    vm->memo_hw = 0; /* every slot unset (dense_slot) */
    for (size_t i = 0; i < vm->sparse_cap; i++) vm->sparse_keys[i] = 0;
    vm->sparse_n = 0;
    vm->memo_count = 0;

    for (;;) {
        if (vm->frame_end && vm->pos == vm->frame_end) vm->frame_end = 0;
        pickle_op op;
        tp_code rc = op_decode_fast(vm->ctx, vm->data, vm->len, vm->pos, &op);
        if (rc) return rc;
        if (vm->frame_end && op.end > vm->frame_end)
            return ctx_fail(vm->ctx, TP_E_FRAME, (int64_t)op.offset, "%s runs past the end of its frame",
                           op.info->name);
        if (++vm->nops > vm->lim.max_opcodes)
            return ctx_fail(vm->ctx, TP_E_LIMIT_OPCODES, (int64_t)op.offset, "more than %llu opcodes",
                           (unsigned long long)vm->lim.max_opcodes);
        vm->pos = (size_t)op.end;
        if ((rc = execute(vm, &op))) return rc;
        if (op.info->code == OP_STOP) return TP_OK;
    }
}

tp_code pv_vm_skip(pv_vm *vm, uint64_t n)
{
    /* A hook runs right after its BUILD, before the loop notices that the
     * frame holding the BUILD has ended. */
    if (vm->frame_end && vm->pos == vm->frame_end) vm->frame_end = 0;
    if (n > vm->len - vm->pos)
        return ctx_fail(vm->ctx, TP_E_TRUNCATED, (int64_t)vm->pos, "%llu raw bytes declared, %zu remain",
                       (unsigned long long)n, vm->len - vm->pos);
    if (vm->frame_end && n > vm->frame_end - vm->pos)
        return ctx_fail(vm->ctx, TP_E_FRAME, (int64_t)vm->pos, "raw bytes run past the end of a frame");
    vm->pos += (size_t)n;
    return TP_OK;
}

tp_code pv_vm_run_nested(pv_vm *vm, uint32_t max_depth, pv *result)
{
    if (vm->frame_end && vm->pos == vm->frame_end) vm->frame_end = 0;
    if (vm->nested >= max_depth)
        return ctx_fail(vm->ctx, TP_E_LIMIT_NESTING, (int64_t)vm->pos, "pickles nested more than %u deep", max_depth);
    if (vm->frame_end)
        return ctx_fail(vm->ctx, TP_E_FRAME, (int64_t)vm->pos, "a nested pickle begins inside a frame");
    /* Set the running pickle's state aside; the nested run grows its own. */
    pv_vm saved = *vm;
    vm->stack = NULL, vm->sp = vm->scap = 0;
    vm->marks = NULL, vm->nmarks = vm->mcap = 0;
    vm->memo = NULL, vm->memo_cap = vm->memo_hw = 0;
    vm->sparse_keys = NULL, vm->sparse_vals = NULL, vm->sparse_cap = vm->sparse_n = 0;
    vm->nested++;
    tp_code rc = pv_vm_run(vm);
    *result = vm->result;
    uint64_t held = (uint64_t)vm->scap * sizeof(pv) + (uint64_t)vm->mcap * sizeof(size_t) +
                    (uint64_t)vm->memo_cap * sizeof(pv) + (uint64_t)vm->sparse_cap * (sizeof(uint64_t) + sizeof(pv));
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
    free(vm->sparse_keys);
    free(vm->sparse_vals);
    vm->mem -= held;
    vm->stack = saved.stack, vm->sp = saved.sp, vm->scap = saved.scap;
    vm->marks = saved.marks, vm->nmarks = saved.nmarks, vm->mcap = saved.mcap;
    vm->memo = saved.memo, vm->memo_cap = saved.memo_cap, vm->memo_hw = saved.memo_hw;
    vm->memo_count = saved.memo_count;
    vm->sparse_keys = saved.sparse_keys, vm->sparse_vals = saved.sparse_vals;
    vm->sparse_cap = saved.sparse_cap, vm->sparse_n = saved.sparse_n;
    vm->frame_end = 0; /* the nested pickle ended outside any frame of ours */
    vm->proto = saved.proto;
    vm->result = saved.result;
    vm->nested--;
    return rc;
}

/* ---- accessors --------------------------------------------------------- */

const pv_seq *pv_seq_of(const pv_vm *vm, pv v)
{
    return is_container(v.kind) && v.ref < vm->nseqs ? &vm->seqs[v.ref] : NULL;
}

pv_obj *pv_obj_of(const pv_vm *vm, pv v)
{
    return v.kind == PV_OBJECT && v.ref < vm->nobjs ? &vm->objs[v.ref] : NULL;
}

const pv_global *pv_global_of(const pv_vm *vm, pv v)
{
    return v.kind == PV_GLOBAL && v.ref < vm->nglobals ? &vm->globals[v.ref] : NULL;
}

bool pv_text(const pv_vm *vm, pv v, const uint8_t **p, size_t *n)
{
    if (v.kind != PV_STR && v.kind != PV_BYTES && v.kind != PV_BYTEARRAY) return false;
    const uint8_t *s = vm->data + v.a;
    if ((v.enc == ENC_ESCAPED || v.enc == ENC_RAW_UNICODE_ESCAPE) && memchr(s, '\\', v.n)) return false;
    *p = s;
    *n = (size_t)v.n;
    return true;
}

bool pv_text_eq(const pv_vm *vm, pv v, const char *s)
{
    const uint8_t *p;
    size_t n;
    return pv_text(vm, v, &p, &n) && n == strlen(s) && memcmp(p, s, n) == 0;
}

bool pv_is_global(const pv_vm *vm, pv v, const char *modules, const char *name)
{
    const pv_global *g = pv_global_of(vm, v);
    if (!g || !pv_text_eq(vm, g->name, name)) return false;
    const uint8_t *m;
    size_t mn;
    if (!pv_text(vm, g->module, &m, &mn)) return false;
    for (const char *s = modules; *s;) {
        const char *bar = strchr(s, '|');
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        if (len == mn && memcmp(s, m, mn) == 0) return true;
        if (!bar) break;
        s = bar + 1;
    }
    return false;
}

const pv *pv_dict_get(const pv_vm *vm, pv dict, const char *key)
{
    const pv_seq *s = pv_seq_of(vm, dict);
    if (!s || s->kind != PV_DICT) return NULL;
    /* str keys only: b'nodes' is another key than 'nodes' in Python */
    for (size_t i = s->n; i >= 2; i -= 2)
        if (s->items[i - 2].kind == PV_STR && pv_text_eq(vm, s->items[i - 2], key)) return &s->items[i - 1];
    return NULL;
}

uint64_t pv_last_get(const pv_vm *vm, uint64_t m)
{
    if (m < vm->get_hw) return vm->get_last[m];
    return m < vm->get_cap ? 0 : vm->get_beyond ? UINT64_MAX : 0;
}

pv pv_state_dict(const pv_vm *vm, const pv_obj *o)
{
    pv st = o->state;
    const pv_seq *s = pv_seq_of(vm, st);
    if (s && s->kind == PV_TUPLE && s->n == 2) st = s->items[0];
    s = pv_seq_of(vm, st);
    return s && s->kind == PV_DICT ? st : (pv){0};
}

bool pv_int(pv v, int64_t *out)
{
    if (v.kind != PV_INT && v.kind != PV_BOOL) return false;
    *out = (int64_t)v.a;
    return true;
}
