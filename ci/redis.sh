#!/usr/bin/env bash
# Run a command with a throwaway Redis server on 127.0.0.1 (a free port, a temporary folder,
# no persistence), then stop it and remove the folder. The command sees
#   OAUTH_CC_TEST_CACHE=redis  REDIS_URL=redis://127.0.0.1:PORT/0
# Usage: bash ci/redis.sh COMMAND [ARGS...]   (exit status: the command's)
set -euo pipefail

server=$(command -v redis-server || true)
if [ -z "$server" ]; then
    echo "ci/redis.sh: redis-server not found (apt-get install -y redis-server)" >&2
    exit 2
fi
folder=$(mktemp -d /tmp/oauth_cc-redis.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    if [ -f "$folder/redis.pid" ]; then
        kill "$(cat "$folder/redis.pid")" 2>/dev/null || true
        sleep 0.2
    fi
    rm -rf "$folder"
}
trap cleanup EXIT
"$server" --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --dir "$folder" --pidfile "$folder/redis.pid" --logfile "$folder/redis.log"
for _ in $(seq 1 50); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
export OAUTH_CC_TEST_CACHE=redis REDIS_URL="redis://127.0.0.1:$port/0"
echo "ci/redis.sh: Redis on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
exit $status
