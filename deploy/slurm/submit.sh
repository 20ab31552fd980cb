#!/bin/sh
# Queue the prediction array and, after it has succeeded, the merge.
# Settings (DENSEKIT, CONFIG, WEIGHTS, IMAGES, GT, OUT) pass through the environment.
#   OUT=/scratch/$USER/run1/val.json deploy/slurm/submit.sh
set -eu
here=$(dirname "$0")
mkdir -p logs
array=$(sbatch --parsable --export=ALL "$here/predict.sbatch")
sbatch --export=ALL --dependency=afterok:"${array%%;*}" "$here/merge.sbatch"
