#!/bin/bash
# Whole-process `snf-decode --level 4` of kodim03 at the default widths, before (main's code,
# a 1.0 zstd file) and after (this branch, a 2.0 entropy-coded file), interleaved in one run.
# Usage: bench/rd/decode_time.sh MAIN_SRC (a copy of main's src/, e.g. from `git archive main src`)
set -e
MAIN_SRC=${1:?path to main src}
W=${2:-$(mktemp -d)}  # a folder holding old.snf and new.snf from an earlier run skips the encodes
IMG=/work/shared/data/kodak/kodim03.png
enc='import sys; from snf.cli.encode import main; main(sys.argv[1:])'
dec='import sys; from snf.cli.decode import main; main(sys.argv[1:])'
[ -f $W/old.snf ] || PYTHONPATH=$MAIN_SRC python -c "$enc" $IMG -o $W/old.snf --steps 1 --quiet
[ -f $W/new.snf ] || python -c "$enc" $IMG -o $W/new.snf --steps 1 --quiet
ls -l $W/old.snf $W/new.snf | awk '{print $5, $9}'
for i in 1 2 3 4 5 6 7; do
  t0=$(date +%s.%N); PYTHONPATH=$MAIN_SRC python -c "$dec" $W/old.snf -o $W/o.png --level 4 2>/dev/null; t1=$(date +%s.%N)
  python -c "$dec" $W/new.snf -o $W/n.png --level 4 2>/dev/null; t2=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
done | python -c "
import sys, statistics
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
print('before (1.0 file, main):', ' '.join(f'{a:.3f}' for a, _ in rows), '-> median', f'{statistics.median(a for a, _ in rows):.3f}', 's')
print('after  (2.0 file, this branch):', ' '.join(f'{b:.3f}' for _, b in rows), '-> median', f'{statistics.median(b for _, b in rows):.3f}', 's')"
