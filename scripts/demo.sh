#!/usr/bin/env bash
# The main job, end to end: encode the sample image while serving it, and stream each level
# to the terminal client as soon as the encoder publishes it (a growing file).
#   ./scripts/demo.sh [IMAGE]        (env: PORT=8000, KBPS=64, KEEP_SERVING=1 to leave the server up,
#                                     ENCODE_ARGS="--steps 200" for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
img=${1:-samples/kodim03.png}
name=$(basename "${img%.*}")
port=${PORT:-8000}
kbps=${KBPS:-64}
work=demo
url="http://127.0.0.1:$port/v1/assets/$name"
t0=$(date +%s%N)
since() { local d=$(( ($(date +%s%N) - t0) / 100000000 )); echo "$((d / 10)).$((d % 10))"; }
mkdir -p "$work/assets" "$work/fetched"

echo "== serving $work/assets on http://127.0.0.1:$port"
snf-serve "$work/assets" --host 127.0.0.1 --port "$port" > "$work/server.log" 2>&1 &
server=$!
encoder=""
trap 'kill $server ${encoder} 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/healthz" > /dev/null || { echo "server did not start:"; tail -5 "$work/server.log"; exit 1; }

if ! snf-info "$work/assets/$name.snf" 2>/dev/null | grep -q "4/4 levels complete"; then
  echo "== encoding $img in the background (preset fast: about 4 minutes on 2 cores); each level is"
  echo "   published as a complete prefix of the file the moment it is quantised, and served at once"
  snf-encode "$img" -o "$work/assets/$name.snf" --publish-levels ${ENCODE_ARGS:-} > "$work/encode.log" 2>&1 &
  encoder=$!
  # the manifest says how many levels the (growing) file holds so far
  until curl -sf "$url" 2>/dev/null | grep -q '"levels_complete":[1-9]'; do
    kill -0 $encoder 2>/dev/null || { echo "encoder stopped:"; tail -3 "$work/encode.log"; exit 1; }
    sleep 1
  done
  echo "== level 1 published after $(since) s; streaming it while levels 2..4 train"
  snf-fetch "$url" -o "$work/fetched" --level 1 --quiet
  echo "== first level streamed: $work/fetched/level-1.png at $(since) s"
  wait $encoder || { echo "encoder failed:"; tail -3 "$work/encode.log"; exit 1; }
  encoder=""
  grep "^level\|^wrote" "$work/encode.log" || true
  echo "== encode finished at $(since) s"
fi
snf-info "$work/assets/$name.snf"

echo "== streaming the whole file at $kbps kbit/s with snf-fetch: each level is written as soon as its chunk lands"
snf-fetch "$url?kbps=$kbps" -o "$work/fetched"
ls -l "$work/fetched"
if [ -n "${KEEP_SERVING:-}" ]; then
  echo "== done in $(since) s; serving until Ctrl-C: in a browser, http://127.0.0.1:$port/view/$name?kbps=$kbps"
  wait $server
else
  echo "== done in $(since) s; the server stops with this script (KEEP_SERVING=1 ./scripts/demo.sh keeps it up for the browser viewer at /view/$name)"
fi
