#!/usr/bin/env bash
# A fleet of N "hosts" on one machine, for tests/it/fleet.rs and bench/fleet.sh: each host is
# a network namespace PREFIX-hK (K = 1..N) with loopback up and one veth `eth0` at
# 10.77.0.K/24, plugged into a bridge that lives in its own namespace PREFIX-sw; one more
# namespace PREFIX-repo (10.77.0.254) runs a real nginx serving a directory (the signed
# repository) on port 80. Nothing is connected to the machine's own namespace, so the
# addresses exist only inside these namespaces, nothing leaves the machine, and parallel
# fleets (other prefixes) never collide even on the same subnet. Needs root.
#
#   netns.sh up N PREFIX DIR SERVE_ROOT   make it; DIR gets nginx/ (config, pid file, logs)
#                                         and inventory.ini (one Ansible host per namespace)
#   netns.sh down PREFIX [DIR]            remove it all: every process in those namespaces
#                                         (nginx, services the hosts started) is killed, then
#                                         the namespaces go (with them the veths and bridge)
#   netns.sh cut PREFIX K | mend PREFIX K host K's link down (and its TCP connections to the
#                                         repository aborted) / up again
#   netns.sh slow PREFIX K RATE | fast PREFIX K   shape what host K receives (tc tbf, e.g.
#                                         RATE=2mbit) / remove the shaping
#
# Each host's berth root is a directory of the caller's (the namespace only changes the
# network): inventory.ini gives every host `host_dir=DIR/hosts/hK` unless HOST_DIRS names a
# file with one directory per line (host K = line K). `up` cleans up after itself on failure.
set -euo pipefail

REPO_IP=10.77.0.254
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

ns_list() { ip netns list | awk '{print $1}' | grep -E "^$1-(sw|repo|h[0-9]+)\$" || true; }

down() {
  local prefix=$1 ns pids
  for ns in $(ns_list "$prefix"); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  done
  for ns in $(ns_list "$prefix"); do
    ip netns del "$ns" 2>/dev/null || true
  done
  if [ -n "$(ns_list "$prefix")" ]; then
    echo "netns.sh: could not remove: $(ns_list "$prefix" | tr '\n' ' ')" >&2
    return 1
  fi
}

up() {
  local n=$1 prefix=$2 dir=$3 serve=$4 k ns
  [ "$n" -ge 1 ] && [ "$n" -le 253 ] || { echo "netns.sh: N must be 1..253" >&2; exit 2; }
  [ "$(ns_list "$prefix")" = "" ] || { echo "netns.sh: prefix $prefix is in use" >&2; exit 2; }
  trap 'down "$prefix"' ERR
  mkdir -p "$dir/nginx"
  ip netns add "$prefix-sw"
  ip -n "$prefix-sw" link set lo up
  ip -n "$prefix-sw" link add br0 type bridge
  ip -n "$prefix-sw" link set br0 up
  plug() { # plug NAMESPACE PORTNAME ADDRESS
    ip netns add "$1"
    ip -n "$1" link set lo up
    ip -n "$prefix-sw" link add "$2" type veth peer name eth0 netns "$1"
    ip -n "$prefix-sw" link set "$2" master br0 up
    ip -n "$1" addr add "$3/24" dev eth0
    ip -n "$1" link set eth0 up
  }
  plug "$prefix-repo" repo "$REPO_IP"
  for k in $(seq "$n"); do plug "$prefix-h$k" "h$k" "10.77.0.$k"; done

  local user=""
  [ "$(id -u)" = 0 ] && user="user root;"
  cat >"$dir/nginx/nginx.conf" <<EOF
$user
daemon on;
master_process on;
worker_processes 2;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log;
events { worker_connections 1024; }
http {
    # Who asked, what for, and the bytes of the body sent (bench/fleet.sh sums them per
    # host); the Range header shows a ranged request.
    log_format fleet '\$remote_addr \$status \$request_method \$uri \$body_bytes_sent "\$http_range"';
    access_log $dir/nginx/access.log fleet;
    client_body_temp_path $dir/nginx/cb; proxy_temp_path $dir/nginx/px;
    fastcgi_temp_path $dir/nginx/fc; uwsgi_temp_path $dir/nginx/uw; scgi_temp_path $dir/nginx/sc;
    default_type application/octet-stream;
    types { application/json json; }
    sendfile on;
    server {
        listen $REPO_IP:80;
        root $serve;
        location / { }
    }
}
EOF
  ip netns exec "$prefix-repo" "$NGINX" -p "$dir/nginx" -e "$dir/nginx/error.log" \
    -c "$dir/nginx/nginx.conf"
  local ok=""
  for _ in $(seq 200); do
    code=$(ip netns exec "$prefix-h1" curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$REPO_IP/" || true)
    if [ "$code" != 000 ] && [ -n "$code" ]; then ok=1; break; fi
    sleep 0.05
  done
  [ -n "$ok" ] || { echo "netns.sh: nginx does not answer on $REPO_IP:" >&2; cat "$dir/nginx/error.log" >&2; false; }

  {
    echo "# Written by examples/fleet/netns.sh: one host per network namespace, reached by"
    echo "# running berth through \`ip netns exec\` on this machine (ansible_connection=local)."
    echo "[fleet]"
    for k in $(seq "$n"); do
      local hd="$dir/hosts/h$k"
      if [ -n "${HOST_DIRS:-}" ]; then hd=$(sed -n "${k}p" "$HOST_DIRS"); fi
      mkdir -p "$hd"
      echo "h$k host_dir=$hd berth_command_prefix='[\"ip\", \"netns\", \"exec\", \"$prefix-h$k\"]'"
    done
    echo
    echo "[fleet:vars]"
    echo "ansible_connection=local"
    echo "ansible_python_interpreter='{{ ansible_playbook_python }}'"
    echo "repo_url=http://$REPO_IP/"
  } >"$dir/inventory.ini"
  trap - ERR
}

cmd=${1:-}
case "$cmd" in
up) [ $# = 5 ] || { echo "usage: netns.sh up N PREFIX DIR SERVE_ROOT" >&2; exit 2; }; up "$2" "$3" "$4" "$5" ;;
down) [ $# -ge 2 ] || { echo "usage: netns.sh down PREFIX" >&2; exit 2; }; down "$2" ;;
cut)
  ip -n "$2-sw" link set "h$3" down
  ip -n "$2-h$3" link set eth0 down
  # A cut link leaves the host's sockets waiting (berth gives up after 30 s of silence);
  # abort them now, as the kernel would after its retries, so the test need not wait.
  ip netns exec "$2-h$3" ss -K dst "$REPO_IP" >/dev/null
  ;;
mend)
  ip -n "$2-sw" link set "h$3" up
  ip -n "$2-h$3" link set eth0 up
  ;;
slow) tc -n "$2-sw" qdisc replace dev "h$3" root tbf rate "$4" burst 16kb latency 500ms ;;
fast) tc -n "$2-sw" qdisc del dev "h$3" root 2>/dev/null || true ;;
*) echo "usage: netns.sh up|down|cut|mend|slow|fast ..." >&2; exit 2 ;;
esac
