# Shared by scripts/swarm-test and scripts/fleet-test (sourced, not run): extra Docker engines on
# this machine, each a dockerd in its own network namespace with its own hostname, socket, data
# root and exec root, on a private bridge (no traffic leaves it). Each script sets its own names,
# so two labs never collide:
#
#   LAB_BRIDGE=cmswarm0 LAB_SUBNET=10.78.0 LAB_NS_PREFIX=cmswarm- LAB_VETH_PREFIX=cmsw
#   LAB_STATE=/run/clustermon-swarm LAB_DATA=/var/lib/clustermon-swarm LAB_NODES=(2 3)
#   lab_node_name() { echo "swarm-node$1"; }
#
# The bridge takes $LAB_SUBNET.1 (the host); node i takes $LAB_SUBNET.i. Needs root, iproute2,
# iptables, util-linux (nsenter, unshare), docker.io and fuse-overlayfs.

lab_node_sock() { echo "$LAB_STATE/$(lab_node_name "$1")/docker.sock"; }
lab_node_veth() { echo "$LAB_VETH_PREFIX$1"; }
lab_node_ns() { echo "$LAB_NS_PREFIX$(lab_node_name "$1")"; }

# The bridge, Docker's FORWARD DROP opened for it, and one namespace with a veth per node.
lab_network() {
  local i ns veth
  ip link add "$LAB_BRIDGE" type bridge
  ip addr add "$LAB_SUBNET.1/24" dev "$LAB_BRIDGE"
  ip link set "$LAB_BRIDGE" up
  iptables -I FORWARD -i "$LAB_BRIDGE" -o "$LAB_BRIDGE" -j ACCEPT
  for i in "${LAB_NODES[@]}"; do
    ns=$(lab_node_ns "$i")
    veth=$(lab_node_veth "$i")
    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$LAB_BRIDGE" up
    ip -n "$ns" addr add "$LAB_SUBNET.$i/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$LAB_SUBNET.1"
  done
}

# Each node's dockerd (nsenter, not `ip netns exec`, which remounts /sys and hides the cgroups
# from dockerd), waiting up to 60 s for each to answer.
lab_start_engines() {
  local i name dir
  for i in "${LAB_NODES[@]}"; do
    name=$(lab_node_name "$i")
    dir=$LAB_STATE/$name
    mkdir -p "$dir" "$LAB_DATA/$name"
    printf '{"storage-driver":"fuse-overlayfs","data-root":"%s","log-driver":"json-file","log-opts":{"max-size":"10m"}}\n' \
      "$LAB_DATA/$name" >"$dir/daemon.json"
    # Its own resolv.conf (nothing listens there): a pull attempt fails at once instead of
    # timing out (there is no registry).
    echo 'nameserver 127.0.0.1' >"$dir/resolv.conf"
    nsenter --net="/run/netns/$(lab_node_ns "$i")" unshare --uts --mount sh -c \
      "mount --bind $dir/resolv.conf /etc/resolv.conf && hostname $name && exec dockerd --config-file $dir/daemon.json --exec-root $dir/exec -H unix://$dir/docker.sock --pidfile $dir/dockerd.pid" \
      >"$dir/dockerd.log" 2>&1 &
  done
  for i in "${LAB_NODES[@]}"; do
    for _ in $(seq 1 60); do
      docker -H "unix://$(lab_node_sock "$i")" info >/dev/null 2>&1 && continue 2
      sleep 1
    done
    tail -20 "$LAB_STATE/$(lab_node_name "$i")/dockerd.log" >&2
    echo "$(lab_node_name "$i"): its dockerd did not start" >&2
    return 1
  done
}

# Stops each node's dockerd by its pid file (SIGKILL after 30 s).
lab_stop_engines() {
  local i pid
  for i in "${LAB_NODES[@]}"; do
    pid=$(cat "$LAB_STATE/$(lab_node_name "$i")/dockerd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}

# What lab_network and the engines' data left: tolerates what is already gone.
lab_remove_network_and_data() {
  local i name
  for i in "${LAB_NODES[@]}"; do
    name=$(lab_node_name "$i")
    # Mounts a killed dockerd left (container roots, its netns files) would block the rm.
    grep -oE "($LAB_DATA|$LAB_STATE)/$name[^ ]*" /proc/mounts 2>/dev/null | sort -r |
      xargs -r -n1 umount -l 2>/dev/null || true
    ip netns del "$(lab_node_ns "$i")" 2>/dev/null || true
    ip link del "$(lab_node_veth "$i")" 2>/dev/null || true
    rm -rf "${LAB_DATA:?}/$name" 2>/dev/null || true
  done
  while iptables -D FORWARD -i "$LAB_BRIDGE" -o "$LAB_BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  ip link del "$LAB_BRIDGE" 2>/dev/null || true
  rm -rf "$LAB_DATA" "$LAB_STATE" 2>/dev/null || true
}

# Copies images into every node's engine (each has its own store; there is no registry).
lab_load_images() {
  local i pids=()
  for i in "${LAB_NODES[@]}"; do
    docker save "$@" | docker -H "unix://$(lab_node_sock "$i")" load -q >/dev/null &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
}
