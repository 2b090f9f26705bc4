/*
 * test_allowlist.c - what the allowlist accepts, what it refuses, and how
 * trusted names widen it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pickle/allowlist.h"

static void model_names_are_allowed(void **state)
{
    (void)state;
    static const struct {
        const char *module, *name;
        al_kind kind;
    } ok[] = {
        {"sklearn.tree._tree", "Tree", AL_CLASS},
        {"sklearn.tree.tree", "DecisionTreeClassifier", AL_CLASS}, /* before 0.22 */
        {"sklearn.ensemble._forest", "RandomForestClassifier", AL_CLASS},
        {"sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper", AL_CLASS},
        {"sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss", AL_RULE_CLASS_ARG},
        {"_loss", "CyHalfSquaredError", AL_CLASS}, /* sklearn 1.5+ */
        {"sklearn.neighbors._kd_tree", "newObj", AL_RULE_CLASS_ARG},
        {"sklearn.metrics._classification", "f1_score", AL_REF},
        {"sklearn.metrics._scorer", "_passthrough_scorer", AL_REF},
        {"sklearn.feature_selection._univariate_selection", "f_classif", AL_REF},
        {"sklearn.feature_selection.univariate_selection", "f_classif", AL_REF},
        {"sklearn.compose._column_transformer", "make_column_selector", AL_CLASS},
        {"sklearn.utils._bunch", "Bunch", AL_CONTAINER},
        {"numpy.core.multiarray", "_reconstruct", AL_RULE_CLASS_ARG},
        {"numpy._core.multiarray", "_reconstruct", AL_RULE_CLASS_ARG},
        {"numpy.core.multiarray", "scalar", AL_RULE_SCALAR},
        {"numpy", "object_", AL_REF}, /* numpy.object_(x) is x */
        {"numpy.core.numeric", "_frombuffer", AL_FUNC},
        {"numpy.core._multiarray_umath", "log1p", AL_REF},
        {"numpy", "dtype", AL_RULE_DTYPE},
        {"numpy", "float64", AL_CLASS},
        {"numpy.random._pickle", "__randomstate_ctor", AL_RULE_BITGEN_CTOR},
        {"numpy.random.bit_generator", "__pyx_unpickle_SeedSequence", AL_RULE_CLASS_ARG},
        {"scipy.sparse._csr", "csr_matrix", AL_CLASS},
        {"scipy.stats._discrete_distns", "randint_gen", AL_RULE_SCIPY_DIST},
        {"pandas.core.indexes.base", "_new_Index", AL_RULE_CLASS_ARG},
        {"joblib.numpy_pickle", "NumpyArrayWrapper", AL_CLASS},
        {"copyreg", "_reconstructor", AL_RULE_RECONSTRUCTOR},
        {"copy_reg", "_reconstructor", AL_RULE_RECONSTRUCTOR},
        {"copyreg", "__newobj__", AL_RULE_NEWOBJ},
        {"collections", "OrderedDict", AL_CONTAINER},
        {"__builtin__", "set", AL_CONTAINER},
        {"_codecs", "encode", AL_RULE_CODECS_ENCODE},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (allowlist_kind(ok[i].module, ok[i].name) != ok[i].kind)
            fail_msg("%s.%s: kind %d, not %d", ok[i].module, ok[i].name, allowlist_kind(ok[i].module, ok[i].name),
                     ok[i].kind);
    }
}

static void dangerous_names_are_refused(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"os", "system"},
        {"posix", "system"},
        {"subprocess", "Popen"},
        {"builtins", "eval"},
        {"builtins", "exec"},
        {"builtins", "getattr"},
        {"__builtin__", "getattr"},
        {"builtins", "__import__"},
        {"builtins", "open"},
        {"builtins", "type"},
        {"numpy", "load"},
        {"numpy", "fromfile"},
        {"numpy", "memmap"},
        {"numpy.testing._private.utils", "runstring"},
        {"numpy.ctypeslib", "load_library"},
        {"numpy", "prod.a"},
        {"joblib", "load"},
        {"joblib.numpy_pickle", "NDArrayWrapper"},
        {"joblib.numpy_pickle", "ZNDArrayWrapper"},
        {"sklearn.externals.joblib", "load"},
        {"sklearn.externals._arff", "ArffDecoder"},
        {"sklearn.datasets._openml", "fetch_openml"},
        {"sklearn.datasets", "load_svmlight_file"},
        {"sklearn.utils._testing", "assert_run_python_script"},
        {"sklearn.utils._testing", "TempMemmap"},
        {"sklearn.utils.parallel", "Parallel"},
        {"sklearn.utils.fixes", "_FuncWrapper"},
        {"sklearn.tree.tests.test_tree", "Foo"},
        {"sklearn.tree._tree", "Tree.__reduce__"},
        {"sklearn.base", "clone"},
        {"sklearnx", "Foo"},
        {"functools", "partial"},
        {"copyreg", "add_extension"},
        {"", ""},
        /* what module-wide rules used to let through: module attributes
         * that are not the module's own data builders */
        {"sklearn.metrics._scorer", "_cached_call"},
        {"sklearn.metrics._scorer", "__builtins__"},
        {"sklearn.tree._tree", "__builtins__"},
        {"sklearn.metrics", "__loader__"},
        {"sklearn.metrics._regression", "__spec__"},
        {"sklearn.metrics._scorer", "np"},
        {"sklearn.metrics._scorer", "partial"},
        {"sklearn.metrics._classification", "warnings"},
        {"sklearn.feature_selection._univariate_selection", "np"},
        {"sklearn.feature_selection._mutual_info", "copy"},
        {"sklearn.ensemble._forest", "Parallel"},
        {"sklearn.ensemble._forest", "delayed"},
        {"sklearn.ensemble._forest", "RandomForestClassifier.fit"},
        {"scipy.stats._continuous_distns", "__builtins__"},
        {"numpy.random._pickle", "__builtins__"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (allowlist_kind(bad[i][0], bad[i][1]) != AL_NONE) fail_msg("%s.%s is allowed", bad[i][0], bad[i][1]);
}

static void trust_by_module_or_name(void **state)
{
    (void)state;
    const char *t[] = {"mypkg.models", "os.system"};
    assert_true(allowlist_trusted("mypkg.models", "Net", t, 2));
    assert_true(allowlist_trusted("mypkg.models.sub", "Net", t, 2));
    assert_true(allowlist_trusted("mypkg", "models", t, 2)); /* read as module.name */
    assert_false(allowlist_trusted("mypkg.modelsx", "Net", t, 2));
    assert_true(allowlist_trusted("os", "system", t, 2));
    assert_false(allowlist_trusted("os", "popen", t, 2));
    assert_false(allowlist_trusted("os.system", "x", t, 1));
    assert_false(allowlist_trusted("", "", t, 2));
    assert_non_null(allowlist_notorious("os", "system"));
    assert_non_null(allowlist_notorious("subprocess", "run"));
    assert_null(allowlist_notorious("mypkg", "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_names_are_allowed),
        cmocka_unit_test(dangerous_names_are_refused),
        cmocka_unit_test(trust_by_module_or_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
