#!/usr/bin/env bash
# The main job, end to end: encode the sample image, serve it, stream it to the client.
#   ./scripts/demo.sh [IMAGE]        (env: PORT=8000, KBPS=64, KEEP_SERVING=1 to leave the server up)
set -euo pipefail
cd "$(dirname "$0")/.."
img=${1:-samples/kodim03.png}
name=$(basename "${img%.*}")
port=${PORT:-8000}
kbps=${KBPS:-64}
work=demo
mkdir -p "$work/assets" "$work/fetched"

if [ ! -s "$work/assets/$name.snf" ]; then
  echo "== encoding $img (preset fast: about 4 minutes on 2 cores; progress below)"
  snf-encode "$img" -o "$work/assets/$name.snf"
fi
snf-info "$work/assets/$name.snf"

echo "== serving $work/assets on http://127.0.0.1:$port"
snf-serve "$work/assets" --host 127.0.0.1 --port "$port" > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/healthz" > /dev/null || { echo "server did not start:"; tail -5 "$work/server.log"; exit 1; }

echo "== streaming at $kbps kbit/s with snf-fetch: each level is written as soon as its chunk lands"
snf-fetch "http://127.0.0.1:$port/v1/assets/$name?kbps=$kbps" -o "$work/fetched"
ls -l "$work/fetched"
echo "== in a browser: http://127.0.0.1:$port/view/$name?kbps=$kbps"
if [ -n "${KEEP_SERVING:-}" ]; then
  echo "(serving until Ctrl-C)"
  wait $server
fi
