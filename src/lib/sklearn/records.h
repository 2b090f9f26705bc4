/*
 * records.h - structured numpy arrays that are stored column by column:
 * which they are, and their columns.
 *
 * A structured array is a run of fixed-size records; each field of the
 * dtype is a column.  Written as they are, the columns interleave and a
 * general-purpose compressor sees noise, so every field becomes its own
 * column (codec/records_section.h says how they are stored).  Bytes no
 * field covers (padding, overlapping fields) are columns of plain bytes.
 * Nothing depends on the field names: any structured array can use it.
 * The scan (locate.c) finds the node arrays of HistGradientBoosting's
 * TreePredictor objects here, and plain numeric arrays as one column.
 */
#ifndef SKLEARN_RECORDS_H
#define SKLEARN_RECORDS_H

#include "numpy/npy.h"

#define REC_MAX_COLS (2 * NPY_MAX_FIELDS + 1)
#define REC_MAX_ITEMSIZE (1u << 16)

enum rec_type { REC_BYTES = 0, REC_INT_LE, REC_INT_BE, REC_FLOAT_LE, REC_FLOAT_BE, REC_TYPE_MAX = REC_FLOAT_BE };

typedef struct rec_layout {
    uint32_t itemsize;
    uint32_t ncols;
    uint32_t off[REC_MAX_COLS];
    uint32_t width[REC_MAX_COLS];
    uint8_t type[REC_MAX_COLS];
} rec_layout;

/* What an array of a search's cv_results_ dict (GridSearchCV,
 * RandomizedSearchCV, ...) is: scikit-learn stores each score per split
 * (split<k>_<score>) and then their mean, standard deviation and rank,
 * which follow from the splits (codec/records_cv.h). */
enum cv_role { CV_NONE = 0, CV_SPLIT, CV_MEAN, CV_STD, CV_RANK };
typedef struct cv_mark {
    uint32_t group;           /* the dict's number + 1; 0: not in one */
    uint32_t score;           /* which score within the dict ("test_score",
                                 "train_r2", ...), numbered from 0 */
    uint32_t split;           /* CV_SPLIT: k */
    uint8_t role;             /* enum cv_role */
} cv_mark;

/* The learning rate and L2 regularisation of the HistGradientBoosting
 * estimator that holds a predictor: its leaves' values are shrunk by the
 * one, and the other is added to every hessian sum. */
typedef struct hgb_params {
    double shrink, l2;
    bool known;
} hgb_params;

/* A structured array found in the stream. */
typedef struct found_records {
    uint64_t offset;          /* of the object that holds it */
    npy_array arr;            /* 1-D, structured, any payload form */
    rec_layout layout;
    bool plain;               /* a plain numeric array as one column (arr
                                 flattened: shape[0] = its element count),
                                 not a predictor's nodes */
    uint32_t thr_group;       /* plain arrays of a _BinMapper's
                                 bin_thresholds_: the mapper's number + 1
                                 (0: not one), and its feature */
    uint32_t thr_feature;
    cv_mark cv;               /* plain arrays of a cv_results_ dict */
    hgb_params hgb;           /* a predictor's estimator's, if known */
} found_records;

/* Columns of a structured dtype; false if it is not structured or its
 * item size is out of range. */
bool rec_layout_from_dtype(const npy_dtype *dt, rec_layout *lay);

/* Is this object a HistGradientBoosting TreePredictor whose `nodes` this
 * module can store?  1 yes (r filled), 0 not a predictor, -1 a predictor
 * left as is (*why says why). */
int records_examine(const pv_vm *vm, const pv_obj *o, found_records *r, const char **why);

/* Is o a HistGradientBoosting _BinMapper?  Its bin_thresholds_ list (the
 * per-feature split values the predictors' num_threshold come from) in
 * *list, or false. */
bool records_bin_thresholds(const pv_vm *vm, const pv_obj *o, const pv_seq **list);

/* Marks (vm->nobjs entries, zeroed by the caller) for the objects that
 * are arrays of a cv_results_ dict: marks[ref] says which score and role
 * each has.  An object that two keys name gets no mark. */
void records_cv_marks(const pv_vm *vm, cv_mark *marks);

/* params (vm->nobjs entries, zeroed by the caller) of every object that
 * a HistGradientBoosting estimator's _predictors list: its estimator's
 * learning_rate and l2_regularization (the last estimator's, for one that
 * several list: the codec only tries them). */
void records_hgb_params(const pv_vm *vm, hgb_params *params);

struct scan_result;
/* After the scan: sort the scan's records by payload offset and drop any
 * whose payload overlaps a tree's or an earlier record's (a crafted pickle
 * can hand one array to several objects through the memo); those count
 * as predictors left as they were. */
tp_code records_settle(tp_ctx *ctx, struct scan_result *scan);

#endif
