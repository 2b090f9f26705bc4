"""Write many kinds of fitted scikit-learn models, pickled at protocols 2
to 5 and with joblib, into a directory: the allowlist must accept every
one of them.  Run with Debian's /usr/bin/python3 (it has sklearn).

    make_real_models.py OUTDIR
"""
import os
import pickle
import sys
import warnings

warnings.filterwarnings("ignore")

import numpy as np
from sklearn import (calibration, cluster, compose, decomposition, discriminant_analysis, dummy, ensemble,
                     feature_extraction, feature_selection, gaussian_process, impute, isotonic, kernel_approximation,
                     linear_model, model_selection, multiclass, naive_bayes, neighbors, neural_network, pipeline,
                     preprocessing, svm, tree)
from sklearn.metrics import make_scorer, f1_score

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.RandomState(0)
X = rng.rand(80, 4)
y = (X[:, 0] + X[:, 1] > 1).astype(int)
yr = X @ [1.0, 2.0, -1.0, 0.5]
texts = ["the cat sat", "a dog ran", "cats and dogs", "the end"] * 20

models = {
    "linear_svc": svm.LinearSVC().fit(X, y),
    "svc_rbf": svm.SVC(probability=True, random_state=0).fit(X, y),
    "svr": svm.SVR().fit(X, yr),
    "kmeans": cluster.KMeans(3, n_init=2, random_state=0).fit(X),
    "dbscan": cluster.DBSCAN().fit(X),
    "pca": decomposition.PCA(2).fit(X),
    "nmf": decomposition.NMF(2, max_iter=50).fit(X),
    "lda": discriminant_analysis.LinearDiscriminantAnalysis().fit(X, y),
    "dummy": dummy.DummyClassifier().fit(X, y),
    "hgb_clf": ensemble.HistGradientBoostingClassifier(max_iter=5).fit(X, y),
    "hgb_reg": ensemble.HistGradientBoostingRegressor(max_iter=5).fit(X, yr),
    "adaboost": ensemble.AdaBoostClassifier(n_estimators=5).fit(X, y),
    "bagging": ensemble.BaggingClassifier(n_estimators=3, random_state=0).fit(X, y),
    "voting": ensemble.VotingClassifier([("a", linear_model.LogisticRegression()),
                                         ("b", tree.DecisionTreeClassifier())]).fit(X, y),
    "stacking": ensemble.StackingRegressor([("a", linear_model.Ridge()), ("b", tree.DecisionTreeRegressor())]).fit(X, yr),
    "rf_rs": ensemble.RandomForestClassifier(3, random_state=np.random.RandomState(1)).fit(X, y),
    "tfidf": feature_extraction.text.TfidfVectorizer().fit(texts),
    "count_vec": feature_extraction.text.CountVectorizer(max_features=3).fit(texts),
    "hashing": feature_extraction.text.HashingVectorizer(n_features=16),
    "dict_vec": feature_extraction.DictVectorizer().fit([{"a": 1}, {"b": 2}]),
    "select_kbest": feature_selection.SelectKBest(k=2).fit(X, y),
    "gpr": gaussian_process.GaussianProcessRegressor(
        gaussian_process.kernels.RBF() + gaussian_process.kernels.WhiteKernel()).fit(X, yr),
    "imputer": impute.SimpleImputer().fit(X),
    "knn_imputer": impute.KNNImputer().fit(X),
    "isotonic": isotonic.IsotonicRegression().fit(X[:, 0], yr),
    "rbf_sampler": kernel_approximation.RBFSampler(random_state=0).fit(X),
    "sgd": linear_model.SGDClassifier(random_state=0).fit(X, y),
    "lasso": linear_model.LassoCV(cv=3).fit(X, yr),
    "gridsearch": model_selection.GridSearchCV(linear_model.LogisticRegression(), {"C": [1, 2]},
                                               scoring=make_scorer(f1_score), cv=3).fit(X, y),
    "ovr": multiclass.OneVsRestClassifier(linear_model.LogisticRegression()).fit(X, y),
    "gnb": naive_bayes.GaussianNB().fit(X, y),
    "knn_kd": neighbors.KNeighborsClassifier(algorithm="kd_tree").fit(X, y),
    "knn_ball": neighbors.KNeighborsRegressor(algorithm="ball_tree").fit(X, yr),
    "nearest_centroid": neighbors.NearestCentroid().fit(X, y),
    "lof": neighbors.LocalOutlierFactor(novelty=True).fit(X),
    "mlp": neural_network.MLPClassifier(max_iter=20, random_state=0).fit(X, y),
    "pipeline_ct": pipeline.make_pipeline(
        compose.ColumnTransformer([("s", preprocessing.StandardScaler(), [0, 1]),
                                   ("o", preprocessing.OneHotEncoder(handle_unknown="ignore"), [2])]),
        linear_model.LogisticRegression()).fit(X, y),
    "poly": preprocessing.PolynomialFeatures(2).fit(X),
    "label_enc": preprocessing.LabelEncoder().fit(["a", "b", "c"]),
    "ordinal": preprocessing.OrdinalEncoder(dtype=np.float32).fit(X[:, :2].round()),
    "quantile": preprocessing.QuantileTransformer(n_quantiles=10).fit(X),
    "calibrated": calibration.CalibratedClassifierCV(svm.LinearSVC(), cv=3).fit(X, y),
    "sparse_ohe": preprocessing.OneHotEncoder().fit(X[:, :1].round()),
    "ridge_sparse": linear_model.Ridge().fit(feature_extraction.text.TfidfVectorizer().fit_transform(texts),
                                             np.arange(len(texts), dtype=float)),
}
for name, model in models.items():
    for proto in (2, 3, 4, 5):
        with open(os.path.join(out, f"{name}_p{proto}.pkl"), "wb") as f:
            pickle.dump(model, f, protocol=proto)
print(len(models) * 4, "files")
