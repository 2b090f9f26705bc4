/*
 * test_allowlist.c - what the allowlist accepts, what it refuses, and how
 * trusted names widen it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "allowlist.h"

static void model_names_are_allowed(void **state)
{
    (void)state;
    static const char *const ok[][2] = {
        {"sklearn.tree._tree", "Tree"},
        {"sklearn.ensemble._forest", "RandomForestClassifier"},
        {"sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper"},
        {"sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss"},
        {"sklearn.neighbors._kd_tree", "newObj"},
        {"sklearn.metrics._classification", "f1_score"},
        {"sklearn.feature_selection._univariate_selection", "f_classif"},
        {"numpy.core.multiarray", "_reconstruct"},
        {"numpy._core.multiarray", "_reconstruct"},
        {"numpy.core.numeric", "_frombuffer"},
        {"numpy", "dtype"},
        {"numpy", "float64"},
        {"numpy.dtypes", "Float64DType"},
        {"numpy.random._pickle", "__randomstate_ctor"},
        {"scipy.sparse._csr", "csr_matrix"},
        {"scipy.sparse.csc", "csc_array"},
        {"joblib.numpy_pickle", "NumpyArrayWrapper"},
        {"copyreg", "_reconstructor"},
        {"copy_reg", "_reconstructor"},
        {"__builtin__", "set"},
        {"_codecs", "encode"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) assert_true(tp_allowlisted(ok[i][0], ok[i][1]));
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
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(tp_allowlisted(bad[i][0], bad[i][1]));
}

static void trust_by_module_or_name(void **state)
{
    (void)state;
    const char *t[] = {"mypkg.models", "os.system"};
    assert_true(tp_trusted("mypkg.models", "Net", t, 2));
    assert_true(tp_trusted("mypkg.models.sub", "Net", t, 2));
    assert_true(tp_trusted("mypkg", "models", t, 2)); /* read as module.name */
    assert_false(tp_trusted("mypkg.modelsx", "Net", t, 2));
    assert_true(tp_trusted("os", "system", t, 2));
    assert_false(tp_trusted("os", "popen", t, 2));
    assert_false(tp_trusted("os.system", "x", t, 1));
    assert_false(tp_trusted("", "", t, 2));
    assert_non_null(tp_notorious("os", "system"));
    assert_non_null(tp_notorious("subprocess", "run"));
    assert_null(tp_notorious("mypkg", "x"));
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
