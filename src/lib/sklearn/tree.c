/*
 * tree.c - node layouts, struct bytes <-> columns, validation.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sklearn/tree.h"

const char *const node_field_names[NF_COUNT] = {
    "left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples", "weighted_n_node_samples",
};

/* Which fields must be integers and which float64. */
static bool field_is_float(int f) { return f == NF_THRESHOLD || f == NF_IMPURITY || f == NF_WEIGHTED; }

/* Recompute the runs of bytes no known field covers; false on overlap. */
static bool layout_finish(node_layout *lay)
{
    if (lay->itemsize == 0 || lay->itemsize > (1u << 16)) return false;
    uint8_t small[256];
    uint8_t *covered = lay->itemsize <= sizeof small ? memset(small, 0, lay->itemsize) : calloc(lay->itemsize, 1);
    if (!covered) return false;
    bool ok = true;
    for (int f = 0; f < NF_COUNT && ok; f++) {
        const field_layout *fl = &lay->f[f];
        if (!fl->present) continue;
        if (fl->is_float ? fl->size != 8 : (fl->size != 1 && fl->size != 2 && fl->size != 4 && fl->size != 8))
            ok = false;
        else if ((uint64_t)fl->offset + fl->size > lay->itemsize)
            ok = false;
        for (uint32_t i = 0; ok && i < fl->size; i++) {
            if (covered[fl->offset + i]) ok = false;
            covered[fl->offset + i] = 1;
        }
    }
    if (ok && !(lay->f[NF_LEFT].present && lay->f[NF_RIGHT].present && lay->f[NF_FEATURE].present &&
                lay->f[NF_THRESHOLD].present))
        ok = false;
    lay->rest_size = 0;
    lay->nruns = 0;
    for (uint32_t i = 0; ok && i < lay->itemsize;) {
        if (covered[i]) {
            i++;
            continue;
        }
        uint32_t j = i;
        while (j < lay->itemsize && !covered[j]) j++;
        if (lay->nruns == ARRAY_LEN(lay->run_off)) {
            ok = false;
            break;
        }
        lay->run_off[lay->nruns] = i;
        lay->run_len[lay->nruns++] = j - i;
        lay->rest_size += j - i;
        i = j;
    }
    if (covered != small) free(covered);
    return ok;
}

bool node_layout_from_dtype(const npy_dtype *dt, node_layout *lay)
{
    memset(lay, 0, sizeof *lay);
    if (dt->base.kind != 'V' || dt->nfields == 0) return false;
    lay->itemsize = dt->base.size;
    for (int i = 0; i < dt->nfields; i++) {
        const npy_field *fd = &dt->fields[i];
        /* sklearn writes the fields in the order of the names: try the
         * same place first (this runs for every tree of a check) */
        for (int k = 0; k < NF_COUNT; k++) {
            int f = i < NF_COUNT ? (i + k) % NF_COUNT : k;
            if (strcmp(fd->name, node_field_names[f]) != 0) continue;
            bool want_float = field_is_float(f);
            bool is_float = fd->type.kind == 'f';
            bool is_int = fd->type.kind == 'i' || fd->type.kind == 'u';
            /* A field of another type stays in the rest bytes. */
            if (want_float ? !(is_float && fd->type.size == 8) : !(is_int && fd->type.size <= 8)) break;
            field_layout *fl = &lay->f[f];
            fl->present = 1;
            fl->size = (uint8_t)fd->type.size;
            fl->big = fd->type.big;
            fl->is_float = is_float;
            fl->offset = fd->offset;
            /* unsigned integers are carried as their bit patterns; the
             * codec only needs the round trip to be exact */
            break;
        }
    }
    return layout_finish(lay);
}

void node_layout_write(const node_layout *lay, bytebuf *out)
{
    bytebuf_varint(out, lay->itemsize);
    for (int f = 0; f < NF_COUNT; f++) {
        const field_layout *fl = &lay->f[f];
        bytebuf_u8(out, (uint8_t)(fl->present | (fl->big << 1) | (fl->is_float << 2)));
        if (!fl->present) continue;
        bytebuf_u8(out, fl->size);
        bytebuf_varint(out, fl->offset);
    }
}

bool node_layout_read(cursor *c, node_layout *lay)
{
    memset(lay, 0, sizeof *lay);
    lay->itemsize = (uint32_t)cursor_varint_max(c, 1u << 16);
    for (int f = 0; f < NF_COUNT; f++) {
        field_layout *fl = &lay->f[f];
        uint8_t flags = cursor_u8(c);
        if (flags & ~7u) return false;
        fl->present = flags & 1;
        fl->big = (flags >> 1) & 1;
        fl->is_float = (flags >> 2) & 1;
        if (!fl->present) continue;
        if (fl->is_float != field_is_float(f)) return false;
        fl->size = cursor_u8(c);
        fl->offset = (uint32_t)cursor_varint_max(c, 1u << 16);
    }
    return !c->bad && layout_finish(lay);
}

bool tree_alloc(sktree *t, uint64_t n, uint32_t n_outputs, uint32_t n_classes, uint32_t rest_size)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    t->n_outputs = n_outputs;
    t->n_classes = n_classes;
    uint64_t nv, bytes;
    if (!mul_ok(n, (uint64_t)n_outputs * n_classes, &nv) || !mul_ok(nv, 8, &bytes) ||
        !mul_ok(n, 8, &bytes) || !mul_ok(n, rest_size, &bytes) || n > SIZE_MAX / 16)
        return false;
    size_t m = n ? (size_t)n : 1;
    t->left = malloc(m * 8);
    t->right = malloc(m * 8);
    t->feature = malloc(m * 8);
    t->nsamples = malloc(m * 8);
    t->threshold = malloc(m * 8);
    t->impurity = malloc(m * 8);
    t->weighted = malloc(m * 8);
    t->values = malloc(nv ? (size_t)nv * 8 : 1);
    t->rest = malloc(n * rest_size != 0 ? (size_t)(n * rest_size) : 1);
    if (!t->left || !t->right || !t->feature || !t->nsamples || !t->threshold || !t->impurity || !t->weighted ||
        !t->values || !t->rest) {
        tree_free(t);
        return false;
    }
    return true;
}

void tree_free(sktree *t)
{
    free(t->left);
    free(t->right);
    free(t->feature);
    free(t->nsamples);
    free(t->threshold);
    free(t->impurity);
    free(t->weighted);
    free(t->values);
    free(t->rest);
    memset(t, 0, sizeof *t);
}

uint64_t tree_values_count(const sktree *t) { return t->n * t->n_outputs * t->n_classes; }

/* Load an integer field as its 64-bit value (sign-extended for signed
 * kinds would need the kind; we keep the raw pattern sign-extended from
 * its width, which round-trips exactly for either). */
static inline uint64_t load_bits(const uint8_t *p, unsigned size, bool big)
{
    uint64_t v = 0;
    if (big)
        for (unsigned i = 0; i < size; i++) v = (v << 8) | p[i];
    else
        for (unsigned i = size; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

static inline void store_bits(uint8_t *p, unsigned size, bool big, uint64_t v)
{
    if (big)
        for (unsigned i = size; i-- > 0; v >>= 8) p[i] = (uint8_t)v;
    else
        for (unsigned i = 0; i < size; i++, v >>= 8) p[i] = (uint8_t)v;
}

static inline int64_t sign_extend(uint64_t v, unsigned size)
{
    if (size == 8) return (int64_t)v;
    unsigned shift = 64 - 8 * size;
    return (int64_t)(v << shift) >> shift;
}

static int64_t *int_column(sktree *t, int f)
{
    switch (f) {
    case NF_LEFT: return t->left;
    case NF_RIGHT: return t->right;
    case NF_FEATURE: return t->feature;
    case NF_NSAMPLES: return t->nsamples;
    }
    return NULL;
}

static double *float_column(sktree *t, int f)
{
    switch (f) {
    case NF_THRESHOLD: return t->threshold;
    case NF_IMPURITY: return t->impurity;
    case NF_WEIGHTED: return t->weighted;
    }
    return NULL;
}

/* The struct records are converted a chunk of nodes at a time, field by
 * field within the chunk: the chunk's records stay in cache across the
 * fields, where whole-array passes would sweep a large tree's records once
 * per field. */
#define CHUNK_NODES 512

/* Fields absent from the layout read as the values a leaf would hold in
 * the codec's eyes: zero. */
void tree_from_bytes(sktree *t, const node_layout *lay, const uint8_t *nodes, const uint8_t *values)
{
    const size_t isz = lay->itemsize;
    for (uint64_t c0 = 0; c0 < t->n; c0 += CHUNK_NODES) {
        const uint64_t c1 = MIN_OF(t->n, c0 + CHUNK_NODES);
        for (int f = 0; f < NF_COUNT; f++) {
            const field_layout *fl = &lay->f[f];
            int64_t *ic = int_column(t, f);
            double *fc = float_column(t, f);
            if (!fl->present) {
                if (ic) memset(ic + c0, 0, (c1 - c0) * 8);
                if (fc) memset(fc + c0, 0, (c1 - c0) * 8);
                continue;
            }
            const uint8_t *p = nodes + c0 * isz + fl->offset;
            if (fc && !fl->big) {
                for (uint64_t i = c0; i < c1; i++, p += isz) memcpy(&fc[i], p, 8);
            } else if (fc) {
                for (uint64_t i = c0; i < c1; i++, p += isz) fc[i] = bits_to_f64(load_bits(p, 8, true));
            } else if (fl->size == 8 && !fl->big) {
                for (uint64_t i = c0; i < c1; i++, p += isz) memcpy(&ic[i], p, 8);
            } else {
                for (uint64_t i = c0; i < c1; i++, p += isz) ic[i] = sign_extend(load_bits(p, fl->size, fl->big), fl->size);
            }
        }
    }
    uint8_t *r = t->rest;
    for (uint64_t i = 0; i < t->n; i++)
        for (uint32_t k = 0; k < lay->nruns; k++, r += lay->run_len[k - 1])
            memcpy(r, nodes + i * isz + lay->run_off[k], lay->run_len[k]);

    uint64_t nv = tree_values_count(t);
    if (!t->values_big && !t->values_fortran) { /* as sklearn writes them */
        memcpy(t->values, values, (size_t)nv * 8);
        return;
    }
    const uint64_t per_node = (uint64_t)t->n_outputs * t->n_classes;
    for (uint64_t j = 0; j < nv; j++) {
        /* element j in C order is (i, rem) with rem = output*classes + class */
        uint64_t src = j;
        if (t->values_fortran) {
            uint64_t i = j / per_node, rem = j % per_node;
            uint64_t o = rem / t->n_classes, c = rem % t->n_classes;
            src = i + t->n * (o + (uint64_t)t->n_outputs * c);
        }
        t->values[j] = bits_to_f64(load_bits(values + src * 8, 8, t->values_big));
    }
}

void tree_to_bytes(const sktree *t, const node_layout *lay, uint8_t *nodes, uint8_t *values)
{
    const size_t isz = lay->itemsize;
    sktree *mt = (sktree *)t; /* the column getters do not modify */
    for (uint64_t c0 = 0; c0 < t->n; c0 += CHUNK_NODES) {
        const uint64_t c1 = MIN_OF(t->n, c0 + CHUNK_NODES);
        for (int f = 0; f < NF_COUNT; f++) {
            const field_layout *fl = &lay->f[f];
            if (!fl->present) continue;
            const int64_t *ic = int_column(mt, f);
            const double *fc = float_column(mt, f);
            uint8_t *p = nodes + c0 * isz + fl->offset;
            if (fc && !fl->big) {
                for (uint64_t i = c0; i < c1; i++, p += isz) memcpy(p, &fc[i], 8);
            } else if (fc) {
                for (uint64_t i = c0; i < c1; i++, p += isz) store_bits(p, 8, true, f64_to_bits(fc[i]));
            } else if (fl->size == 8 && !fl->big) {
                for (uint64_t i = c0; i < c1; i++, p += isz) memcpy(p, &ic[i], 8);
            } else {
                for (uint64_t i = c0; i < c1; i++, p += isz) store_bits(p, fl->size, fl->big, (uint64_t)ic[i]);
            }
        }
        const uint8_t *r = t->rest + c0 * lay->rest_size;
        for (uint64_t i = c0; i < c1; i++)
            for (uint32_t k = 0; k < lay->nruns; k++) {
                memcpy(nodes + i * isz + lay->run_off[k], r, lay->run_len[k]);
                r += lay->run_len[k];
            }
    }

    uint64_t nv = tree_values_count(t);
    if (!t->values_big && !t->values_fortran) {
        memcpy(values, t->values, (size_t)nv * 8);
        return;
    }
    const uint64_t per_node = (uint64_t)t->n_outputs * t->n_classes;
    for (uint64_t j = 0; j < nv; j++) {
        uint64_t dst = j;
        if (t->values_fortran) {
            uint64_t i = j / per_node, rem = j % per_node;
            uint64_t o = rem / t->n_classes, c = rem % t->n_classes;
            dst = i + t->n * (o + (uint64_t)t->n_outputs * c);
        }
        store_bits(values + dst * 8, 8, t->values_big, f64_to_bits(t->values[j]));
    }
}

bool tree_is_preorder(const sktree *t)
{
    for (uint64_t i = 0; i < t->n; i++)
        if (t->left[i] != -1 && t->left[i] != (int64_t)i + 1) return false;
    return true;
}

/* What sklearn can index with: a feature below n_features (unknown: < 0). */
static bool feature_usable(int64_t f, int64_t n_features) { return f >= 0 && (n_features < 0 || f < n_features); }

static void feature_why(uint64_t i, int64_t f, int64_t n_features, char *why, size_t why_len)
{
    snprintf(why, why_len, "internal node %llu splits on feature %lld (the model has %lld)", (unsigned long long)i,
             (long long)f, (long long)n_features);
}

bool tree_features_ok(const sktree *t, int64_t n_features, char *why, size_t why_len)
{
    for (uint64_t i = 0; i < t->n; i++)
        if (t->left[i] != -1 && !feature_usable(t->feature[i], n_features)) {
            feature_why(i, t->feature[i], n_features, why, why_len);
            return false;
        }
    return true;
}

/* One integer field of every node: a column of int64 or the field inside
 * the struct records, read the same way. */
typedef struct int_view {
    const uint8_t *p; /* NULL: the field is absent and reads as 0 */
    size_t stride;
    unsigned size;
    bool big;
} int_view;

static inline int64_t view_get(const int_view *v, uint64_t i)
{
    if (!v->p) return 0;
    const uint8_t *q = v->p + i * v->stride;
    if (v->size == 8 && !v->big) {
        int64_t x;
        memcpy(&x, q, 8);
        return x;
    }
    return sign_extend(load_bits(q, v->size, v->big), v->size);
}

/* The quick proof, for the shape sklearn's builders write: every child
 * numbered after its parent.  Then there can be no cycle, and the nodes
 * form one tree exactly when each node but the root has one parent; a
 * bitmap of "has a parent" in one sequential pass proves it, where the
 * full walk costs a stack, a byte per node and random reads.  False
 * means "not proven": the caller runs the full check, which also words
 * the problem (or accepts a valid tree numbered another way). */
static inline int64_t view_get_le8(const int_view *v, uint64_t i)
{
    int64_t x;
    memcpy(&x, v->p + i * v->stride, 8);
    return x;
}

/* le8: all three fields are present 8-byte little-endian integers (as
 * sklearn writes them), read without the general view's branches; the
 * check of a large forest spends its time here. */
static inline bool quick_valid_with(const int_view *left, const int_view *right, const int_view *feature, uint64_t n,
                                    int64_t n_features, bool le8)
{
    if (n == 0) return false;
    uint64_t *has_parent = calloc((size_t)(n / 64 + 1), sizeof *has_parent);
    if (!has_parent) return false;
    uint64_t with_parent = 0;
    bool ok = true;
    for (uint64_t i = 0; i < n && ok; i++) {
        int64_t l = le8 ? view_get_le8(left, i) : view_get(left, i);
        int64_t r = le8 ? view_get_le8(right, i) : view_get(right, i);
        if (l == -1 && r == -1) continue;
        /* children after the parent and in range; the feature usable */
        int64_t f = le8 ? view_get_le8(feature, i) : view_get(feature, i);
        if (l <= (int64_t)i || r <= (int64_t)i || (uint64_t)l >= n || (uint64_t)r >= n || l == r ||
            !feature_usable(f, n_features)) {
            ok = false;
            break;
        }
        uint64_t bl = (uint64_t)1 << (l & 63), br = (uint64_t)1 << (r & 63);
        if ((has_parent[l >> 6] & bl) || (has_parent[r >> 6] & br)) ok = false;
        has_parent[l >> 6] |= bl;
        has_parent[r >> 6] |= br;
        with_parent += 2;
    }
    free(has_parent);
    /* the root has no parent (no child index is 0), so n - 1 distinct
     * nodes with one parent each are all the others */
    return ok && with_parent == n - 1;
}

static bool quick_valid(const int_view *left, const int_view *right, const int_view *feature, uint64_t n,
                        int64_t n_features)
{
    const int_view *v[3] = {left, right, feature};
    bool le8 = true;
    for (int k = 0; k < 3; k++) le8 &= v[k]->p && v[k]->size == 8 && !v[k]->big;
    return le8 ? quick_valid_with(left, right, feature, n, n_features, true)
               : quick_valid_with(left, right, feature, n, n_features, false);
}

bool tree_validate(const sktree *t, int64_t n_features, char *why, size_t why_len)
{
    int_view l = {(const uint8_t *)t->left, 8, 8, false}, r = {(const uint8_t *)t->right, 8, 8, false},
             f = {(const uint8_t *)t->feature, 8, 8, false};
    if (quick_valid(&l, &r, &f, t->n, n_features)) return true;
    return tree_validate_full(t, n_features, why, why_len);
}

const int structure_fields[3] = {NF_LEFT, NF_RIGHT, NF_FEATURE};

bool nodes_quick_valid(const node_layout *lay, const uint8_t *nodes, uint64_t n, int64_t n_features)
{
    int_view v[3];
    for (int k = 0; k < 3; k++) {
        const field_layout *fl = &lay->f[structure_fields[k]];
        v[k] = (int_view){fl->present ? nodes + fl->offset : NULL, lay->itemsize, fl->size, fl->big};
    }
    return quick_valid(&v[0], &v[1], &v[2], n, n_features);
}

bool tree_validate_full(const sktree *t, int64_t n_features, char *why, size_t why_len)
{
    if (t->n == 0) {
        snprintf(why, why_len, "it has no nodes");
        return false;
    }
    const int64_t n = (int64_t)t->n;
    for (int64_t i = 0; i < n; i++) {
        int64_t l = t->left[i], r = t->right[i];
        if (l == -1 || r == -1) {
            if (l != r) {
                snprintf(why, why_len, "node %lld has one child (left %lld, right %lld)", (long long)i,
                         (long long)l, (long long)r);
                return false;
            }
            continue;
        }
        if (l <= 0 || l >= n || r <= 0 || r >= n) {
            snprintf(why, why_len, "node %lld has a child out of range (left %lld, right %lld, %lld nodes)",
                     (long long)i, (long long)l, (long long)r, (long long)n);
            return false;
        }
        if (!feature_usable(t->feature[i], n_features)) {
            feature_why((uint64_t)i, t->feature[i], n_features, why, why_len);
            return false;
        }
    }
    /* Every node reached exactly once from the root: an explicit stack,
     * never recursion, since the input decides the depth. */
    uint8_t *seen = calloc((size_t)n, 1);
    int64_t *stack = malloc((size_t)n * sizeof *stack);
    bool ok = seen && stack;
    if (!ok) snprintf(why, why_len, "out of memory while checking it");
    size_t sp = 0, reached = 0;
    if (ok) {
        stack[sp++] = 0;
        seen[0] = 1;
    }
    while (ok && sp) {
        int64_t i = stack[--sp];
        reached++;
        if (t->left[i] == -1) continue;
        int64_t kids[2] = {t->left[i], t->right[i]};
        for (int k = 0; k < 2; k++) {
            if (seen[kids[k]]) {
                snprintf(why, why_len, "node %lld is reached twice (a cycle or a shared subtree)",
                         (long long)kids[k]);
                ok = false;
                break;
            }
            seen[kids[k]] = 1;
            stack[sp++] = kids[k];
        }
    }
    if (ok && reached != (size_t)n) {
        snprintf(why, why_len, "%lld of its %lld nodes cannot be reached from the root",
                 (long long)(n - (int64_t)reached), (long long)n);
        ok = false;
    }
    free(seen);
    free(stack);
    return ok;
}
