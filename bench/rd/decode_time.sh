#!/bin/bash
# Whole-process `snf-decode --level 4` of kodim03 at the default widths, before (main's code,
# a 1.0 zstd file) and after (this branch, a 2.0 entropy-coded file), interleaved in one run.
# Usage: bench/rd/decode_time.sh MAIN_SRC (a copy of main's src/, e.g. from `git archive main src`)
set -e
MAIN_SRC=${1:?path to main src}
W=$(mktemp -d)
IMG=/work/shared/data/kodak/kodim03.png
enc='import sys; from snf.cli.encode import main; main(sys.argv[1:])'
dec='import sys; from snf.cli.decode import main; main(sys.argv[1:])'
PYTHONPATH=$MAIN_SRC python -c "$enc" $IMG -o $W/old.snf --steps 1 --quiet
python -c "$enc" $IMG -o $W/new.snf --steps 1 --quiet
ls -l $W/old.snf $W/new.snf | awk '{print $5, $9}'
for i in 1 2 3 4 5 6 7; do
  t0=$(date +%s.%N); PYTHONPATH=$MAIN_SRC python -c "$dec" $W/old.snf -o $W/o.png --level 4; t1=$(date +%s.%N)
  python -c "$dec" $W/new.snf -o $W/n.png --level 4; t2=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
done | sort -n | awk '{o[NR]=$1; n[NR]=$2} END {asort(o); asort(n); print "median before", o[4], "s; after", n[4], "s"}'
