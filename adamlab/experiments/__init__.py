"""The experiments the project exists for, each as claims measured on a sweep's results.

One module per experiment (`bias_correction`, `weight_decay`, `embedding_sparsity`,
`embedding_sparse`, `quickstart`), each with a pure function `claims(results) -> list[Claim]`
over the loaded results folder; what decides each claim is declared in `preregistered`, and
`registry` maps a sweep name to its experiment. The configs that produce the results are
`configs/<name>.yaml`; `adamlab report RESULTS_DIR` prints the claims.
"""
