#!/bin/sh
# Run the sharded prediction, wait for every index to succeed, then merge and evaluate.
#   deploy/kubernetes/run.sh [namespace]
set -eu
here=$(dirname "$0")
ns=${1:-default}
kubectl -n "$ns" delete job densekit-predict densekit-merge --ignore-not-found
kubectl -n "$ns" apply -f "$here/predict-job.yaml"
kubectl -n "$ns" wait --for=condition=complete --timeout=48h job/densekit-predict
kubectl -n "$ns" apply -f "$here/merge-job.yaml"
kubectl -n "$ns" wait --for=condition=complete --timeout=2h job/densekit-merge
kubectl -n "$ns" logs job/densekit-merge -c eval
