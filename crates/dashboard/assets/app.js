// clustermon dashboard: reads docker-api through this origin's /api, live from its event stream.
// Plain JavaScript, no build step; graphs by Chart.js (vendored from Debian's libjs-chart.js).
"use strict";

(function () {
  const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 };
  // Tick spacing per range, in ms: every 3 min, 10 min, 1 h, 4 h, 1 day.
  const TICKS = { "15m": 180000, "1h": 600000, "6h": 3600000, "24h": 14400000, "7d": 86400000 };
  const LONG_REFRESH_MS = 60000;
  const EVENTS_REFRESH_MS = 10000;
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 8000;
  const LIST_REFRESH_MS = 10000;
  const HEALTH_REFRESH_MS = 5000;
  const ALERTS_REFRESH_MS = 15000;
  const NODES_REFRESH_MS = 5000;

  const $ = (id) => document.getElementById(id);

  const state = {
    containers: [], // from /api/containers?all=true
    stats: new Map(), // id -> the container's figures from the latest aggregate
    aggregate: null,
    sortKey: "name",
    sortDir: 1,
    filter: "",
    node: "",
    selected: null, // id of the container whose graphs are open
    selectedName: null,
    range: "15m", // of every graph; only 15 min is fed live from the stream
    config: { grafana_url: null, history_source: null },
    grouped: true,
    collapsed: new Set(), // group keys folded away
    samples: 0, // stats frames received
    // For the consistency check (and its browser test): the sample number at which each
    // container id first ran in the stream, and first showed running in the table.
    firstInStream: new Map(),
    firstInTable: new Map(),
    relists: 0, // lists asked because the table disagreed with the stream
    stream: null,
    connected: false,
    retryMs: RETRY_MIN_MS,
    retryTimer: null,
    retryAt: 0,
    lastError: "",
    errors: [],
  };

  // ---- formatting ----------------------------------------------------------------------------

  function bytes(n) {
    if (n == null || !isFinite(n)) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
  }
  const rate = (n) => (n == null ? "–" : bytes(n) + "/s");
  const percent = (n) => (n == null || !isFinite(n) ? "–" : n.toFixed(1) + " %");

  function duration(seconds) {
    if (seconds == null || !isFinite(seconds) || seconds < 0) return "–";
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = Math.floor(seconds % 60);
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + m + "m";
    if (m > 0) return m + "m " + s + "s";
    return s + "s";
  }

  // "15m" rather than "15m 0s", "7d" rather than "7d 0h".
  const roundDuration = (seconds) => duration(seconds).replace(/ 0[smh]$/, "");

  function shortImage(image) {
    if (!image) return "";
    return image.startsWith("sha256:") ? image.slice(7, 19) : image;
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // ---- requests ------------------------------------------------------------------------------

  async function getJson(path) {
    let response;
    try {
      response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    } catch (e) {
      throw new Error("the dashboard service is unreachable (" + e.message + ")");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      const error = new Error((body && body.error) || "HTTP " + response.status);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  // An error from docker-api itself (404 for a vanished container) is not an outage.
  const isOutage = (e) => e.status == null || e.status === 502 || e.status === 504 || e.status === 503;

  // ---- connection and banner -----------------------------------------------------------------

  function showBanner() {
    const banner = $("banner");
    if (state.connected) {
      banner.hidden = true;
      document.querySelector("main").classList.remove("stale");
      return;
    }
    const seconds = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
    banner.textContent =
      "docker-api is unreachable: " + (state.lastError || "no connection") +
      ". Showing the last data; retrying " + (seconds > 0 ? "in " + seconds + " s" : "now") + "…";
    banner.hidden = false;
    document.querySelector("main").classList.add("stale");
  }

  function markDown(reason) {
    state.connected = false;
    state.lastError = reason;
    setPill("docker-api-status", "docker-api: unreachable", "bad");
    showBanner();
  }

  function scheduleReconnect() {
    if (state.retryTimer) return;
    const wait = state.retryMs;
    state.retryMs = Math.min(state.retryMs * 2, RETRY_MAX_MS);
    state.retryAt = Date.now() + wait;
    state.retryTimer = setTimeout(() => {
      state.retryTimer = null;
      connect();
    }, wait);
  }

  // Why the stream failed: EventSource does not say, so ask the forwarder once.
  async function explainFailure() {
    try {
      await getJson("/api/system/version");
      return "the event stream closed";
    } catch (e) {
      return e.message;
    }
  }

  function connect() {
    if (state.stream) state.stream.close();
    const stream = new EventSource("/api/stats/stream");
    state.stream = stream;
    stream.onopen = () => {
      state.connected = true;
      state.retryMs = RETRY_MIN_MS;
      state.lastError = "";
      showBanner();
      setPill("docker-api-status", "docker-api: up", "ok");
      // Fill whatever the outage left out, and catch up on containers.
      seedClusterHistory();
      refreshContainers();
      if (state.selected) seedContainerHistory(state.selected);
    };
    stream.addEventListener("stats", (event) => {
      try {
        onAggregate(JSON.parse(event.data));
      } catch (e) {
        report(e);
      }
    });
    stream.addEventListener("container", onContainerEvent);
    stream.onerror = async () => {
      if (state.stream !== stream) return;
      stream.close();
      state.stream = null;
      markDown(await explainFailure());
      scheduleReconnect();
    };
  }

  // Counts down the banner's "retrying in N s".
  setInterval(() => {
    if (!state.connected) showBanner();
  }, 1000);

  // ---- header --------------------------------------------------------------------------------

  function setPill(id, text, kind) {
    const el = $(id);
    el.textContent = text;
    el.className = "pill pill-" + kind;
  }

  async function refreshHealth() {
    try {
      const health = await getJson("/health");
      const api = health.docker_api || {};
      if (api.reachable) {
        setPill("docker-api-status", "docker-api: up", "ok");
        const docker = (api.health && api.health.docker) || {};
        if (docker.reachable) {
          setPill("daemon-status", "Docker: up" + (docker.api_version ? " (API " + docker.api_version + ")" : ""), "ok");
        } else {
          setPill("daemon-status", "Docker: unreachable", "bad");
        }
      } else {
        setPill("docker-api-status", "docker-api: unreachable", "bad");
        setPill("daemon-status", "Docker: unknown", "unknown");
      }
    } catch (e) {
      setPill("docker-api-status", "dashboard unreachable", "bad");
      setPill("daemon-status", "Docker: unknown", "unknown");
    }
  }

  function renderSummary(a) {
    $("sum-running").textContent = a.running;
    $("sum-stopped").textContent = a.stopped;
    $("sum-unhealthy").textContent = a.unhealthy;
    $("sum-unhealthy").parentElement.classList.toggle("badge-bad", a.unhealthy > 0);
    $("sum-cpu").textContent = percent(a.total_cpu_percent);
    $("sum-memory").textContent =
      bytes(a.total_memory_usage_bytes) + " / " + bytes(a.total_memory_limit_bytes);
    const net = a.network || {};
    $("sum-network").textContent = "↓ " + rate(net.rx_bytes_per_sec) + " ↑ " + rate(net.tx_bytes_per_sec);
    $("updated").textContent = "updated " + new Date(a.timestamp || Date.now()).toLocaleTimeString();
  }

  // Cluster mode (docker-api on a swarm): one row per node with its own totals; an unreachable
  // node stays listed, marked, with docker-api's reason as the row's tooltip.
  function renderNodes(nodes) {
    const section = $("nodes");
    section.hidden = !Array.isArray(nodes) || nodes.length === 0;
    if (section.hidden) return;
    const tbody = document.querySelector("#node-table tbody");
    const rows = [...nodes].sort((a, b) => a.node.localeCompare(b.node)).map((n) => {
      const tr = document.createElement("tr");
      tr.tabIndex = 0;
      tr.dataset.node = n.node;
      tr.setAttribute("aria-selected", String(state.node === n.node));
      if (n.error) tr.title = n.error;
      cell(tr, "node", n.node);
      const status = document.createElement("td");
      badge(status, n.reachable ? "up" : "unreachable", n.reachable ? "ok" : "bad");
      tr.appendChild(status);
      cell(tr, "running", n.reachable ? n.containers_running + " / " + n.total_containers : "–", "num");
      cell(tr, "cpu", n.reachable ? percent(n.cpu_percent) : "–", "num");
      cell(tr, "memory", n.reachable ? bytes(n.memory_usage_bytes) + " / " + bytes(n.host_memory_bytes) : "–", "num");
      cell(tr, "memory_percent", n.reachable ? percent(n.memory_percent) : "–", "num");
      return tr;
    });
    tbody.replaceChildren(...rows);
  }

  // The event stream carries the answering node's figures only; the cluster-wide aggregate (one
  // request fanned out to every node by docker-api) gives each node's totals.
  async function refreshNodes() {
    if (!state.connected || !hasNodes()) return renderNodes(null);
    try {
      const a = await getJson("/api/stats/aggregate");
      state.nodes = a.nodes || null;
      renderNodes(state.nodes);
    } catch (e) {
      if (!isOutage(e)) report(e);
    }
  }

  // Selecting a node row shows only its containers (the same as the node filter); again clears it.
  function chooseNode(node) {
    state.node = state.node === node ? "" : node;
    const select = $("node-filter");
    if ([...select.options].some((o) => o.value === state.node)) select.value = state.node;
    renderNodes(state.nodes);
    renderTable();
  }

  // ---- graphs --------------------------------------------------------------------------------

  const charts = {};

  function lineChart(canvasId, datasets, yTitle) {
    const ctx = $(canvasId);
    return new Chart(ctx, {
      type: "line",
      data: {
        datasets: datasets.map((d) => ({
          label: d.label,
          data: [],
          borderColor: d.color,
          backgroundColor: d.color + "33",
          fill: d.fill === true,
          borderDash: d.limit ? [6, 4] : [],
          borderWidth: d.limit ? 1.5 : 2,
          pointRadius: 0,
          tension: 0.2,
        })),
      },
      options: {
        animation: false,
        parsing: false,
        normalized: true,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        plugins: { legend: { display: datasets.length > 1 } },
        scales: {
          x: {
            type: "linear",
            // Whole minutes, every three.
            ticks: { callback: (v) => tickLabel(v), stepSize: TICKS["15m"], color: "#4a5360" },
            grid: { color: "#e3e8ee" },
          },
          y: {
            beginAtZero: true,
            title: { display: false, text: yTitle },
            ticks: { color: "#4a5360" },
            grid: { color: "#e3e8ee" },
          },
        },
      },
    });
  }

  function setupCharts() {
    if (typeof Chart === "undefined") {
      report(new Error("Chart.js did not load"));
      return;
    }
    charts.clusterCpu = lineChart("chart-cluster-cpu", [{ label: "CPU %", color: "#0b5cad", fill: true }], "%");
    charts.clusterMemory = lineChart("chart-cluster-memory", [{ label: "MiB", color: "#6a3fb5", fill: true }], "MiB");
    charts.containerCpu = lineChart(
      "chart-container-cpu",
      [
        { label: "CPU %", color: "#0b5cad", fill: true },
        { label: "CPU limit", color: "#8a1414", limit: true },
      ],
      "%"
    );
    charts.containerMemory = lineChart(
      "chart-container-memory",
      [
        { label: "MiB", color: "#6a3fb5", fill: true },
        { label: "memory limit", color: "#8a1414", limit: true },
      ],
      "MiB"
    );
    charts.containerDisk = lineChart(
      "chart-container-disk",
      [
        { label: "read", color: "#0b5cad" },
        { label: "write", color: "#b8520a" },
      ],
      "KiB/s"
    );
    charts.containerNetwork = lineChart(
      "chart-container-network",
      [
        { label: "receive", color: "#0f7a3a" },
        { label: "transmit", color: "#b8520a" },
      ],
      "KiB/s"
    );
  }

  // Replaces a chart's series: points are [{x: ms, y}] per dataset.
  function setSeries(chart, series) {
    if (!chart) return;
    series.forEach((points, i) => {
      chart.data.datasets[i].data = points;
    });
    trimAndDraw(chart);
  }

  function appendPoint(chart, x, values) {
    if (!chart) return;
    values.forEach((y, i) => {
      const data = chart.data.datasets[i].data;
      if (data.length && data[data.length - 1].x >= x) return;
      data.push({ x: x, y: y });
    });
    trimAndDraw(chart);
  }

  function trimAndDraw(chart) {
    const now = Date.now();
    const from = now - RANGES[state.range] * 1000;
    chart.data.datasets.forEach((d) => {
      while (d.data.length && d.data[0].x < from) d.data.shift();
    });
    // A limit known only as a number (docker-api's live figure) is drawn across the range.
    if (chart.$flatLimit != null) {
      chart.data.datasets[1].data = [
        { x: from, y: chart.$flatLimit },
        { x: now, y: chart.$flatLimit },
      ];
    }
    chart.options.scales.x.min = from;
    chart.options.scales.x.max = now;
    chart.options.scales.x.ticks.stepSize = TICKS[state.range];
    chart.update("none");
  }

  function tickLabel(ms) {
    if (state.range === "7d") return new Date(ms).toLocaleDateString([], { month: "short", day: "numeric" });
    return clock(ms);
  }

  const MiB = 1024 * 1024;

  // [[t, v], ...] from /history as chart points, divided by `scale`.
  const points = (body, name, scale) =>
    ((body.series || {})[name] || []).map((p) => ({ x: p[0] * 1000, y: p[1] / (scale || 1) }));

  function showSource(body) {
    const from = body.source === "prometheus" ? "Prometheus" : "docker-api's memory";
    $("history-source").textContent =
      "history from " + from + (body.step_seconds ? ", a point every " + roundDuration(body.step_seconds) : "") +
      (body.note ? " (" + body.note + ")" : "");
  }

  async function seedClusterHistory() {
    const range = state.range;
    try {
      const body = await getJson("/history/cluster?range=" + range);
      if (state.range !== range) return;
      showSource(body);
      setSeries(charts.clusterCpu, [points(body, "cpu_percent")]);
      setSeries(charts.clusterMemory, [points(body, "memory_bytes", MiB)]);
    } catch (e) {
      if (!isOutage(e)) report(e);
    }
  }

  // The memory limit docker-api reports (the host's memory when there is none).
  function liveMemoryLimit(id) {
    const s = state.stats.get(id);
    const host = state.aggregate && state.aggregate.host_memory_bytes;
    if (!s || !s.memory.limit_bytes || (host && s.memory.limit_bytes >= host)) return null;
    return s.memory.limit_bytes / MiB;
  }

  // The CPU limit docker-api reports, in its CPU %'s unit (none, or one past the host's CPUs).
  function liveCpuLimit(id) {
    const s = state.stats.get(id);
    const limit = s && s.cpu.limit_percent;
    if (!limit || (s.cpu.online_cpus && limit >= s.cpu.online_cpus * 100)) return null;
    return limit;
  }

  async function seedContainerHistory(id) {
    const name = state.selectedName;
    const range = state.range;
    try {
      const body = await getJson("/history/containers/" + encodeURIComponent(name) + "?range=" + range);
      if (state.selected !== id || state.range !== range) return;
      const cpuLimit = points(body, "cpu_limit_percent");
      const memoryLimit = points(body, "memory_limit_bytes", MiB);
      charts.containerCpu.$flatLimit = cpuLimit.length ? null : liveCpuLimit(id);
      charts.containerMemory.$flatLimit = memoryLimit.length ? null : liveMemoryLimit(id);
      setSeries(charts.containerCpu, [points(body, "cpu_percent"), cpuLimit]);
      setSeries(charts.containerMemory, [points(body, "memory_bytes", MiB), memoryLimit]);
      setSeries(charts.containerNetwork, [points(body, "rx_bytes_per_sec", 1024), points(body, "tx_bytes_per_sec", 1024)]);
      setSeries(charts.containerDisk, [points(body, "read_bytes_per_sec", 1024), points(body, "write_bytes_per_sec", 1024)]);
    } catch (e) {
      // A container that never ran has no history yet: its graphs fill from the stream.
      if (state.selected === id) clearContainerCharts();
    }
  }

  function clearContainerCharts() {
    charts.containerCpu.$flatLimit = state.selected ? liveCpuLimit(state.selected) : null;
    charts.containerMemory.$flatLimit = state.selected ? liveMemoryLimit(state.selected) : null;
    setSeries(charts.containerCpu, [[], []]);
    setSeries(charts.containerMemory, [[], []]);
    setSeries(charts.containerNetwork, [[], []]);
    setSeries(charts.containerDisk, [[], []]);
  }

  function chooseRange(range) {
    if (!RANGES[range] || range === state.range) return;
    state.range = range;
    document.querySelectorAll("#ranges button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.range === range)));
    seedClusterHistory();
    if (state.selected) {
      seedContainerHistory(state.selected);
      renderGrafanaLink();
    }
  }

  // ---- events of the selected container ------------------------------------------------------

  // An event's badge: its kind, or words where the kind is terse.
  const EVENT_LABELS = { oom: "OOM killed" };

  async function refreshEvents() {
    const name = state.selectedName;
    if (!name) return;
    let body;
    try {
      body = await getJson("/events/containers/" + encodeURIComponent(name));
    } catch (e) {
      $("events-status").textContent = "events unavailable: " + e.message;
      return;
    }
    if (state.selectedName !== name) return;
    const events = body.events || [];
    $("events-status").textContent = events.length
      ? ""
      : "none seen since the dashboard started (kept " + roundDuration(body.keep_seconds) + ")";
    $("detail-events").replaceChildren(
      ...events.map((e) => {
        const li = document.createElement("li");
        li.dataset.kind = e.kind;
        const time = document.createElement("time");
        time.dateTime = new Date(e.t * 1000).toISOString();
        time.textContent = new Date(e.t * 1000).toLocaleString();
        const b = document.createElement("span");
        const kind = { die: "bad", oom: "bad", removed: "idle", start: "ok", restart: "warn", state: "warn" }[e.kind];
        b.className = "badge badge-" + (e.kind === "health" ? healthKind(e.detail) : kind || "idle");
        b.textContent = EVENT_LABELS[e.kind] || e.kind;
        const detail = document.createElement("span");
        detail.className = "detail";
        detail.textContent = e.detail;
        li.append(time, b, detail);
        return li;
      })
    );
  }

  function renderGrafanaLink() {
    const link = $("detail-grafana");
    const base = state.config.grafana_url;
    link.hidden = !base || !state.selectedName;
    if (link.hidden) return;
    link.href =
      base + "/d/clustermon-containers/containers?var-container=" + encodeURIComponent(state.selectedName) +
      "&from=now-" + state.range + "&to=now";
  }

  // ---- live data -----------------------------------------------------------------------------

  function onAggregate(a) {
    state.aggregate = a;
    state.samples++;
    state.stats = new Map((a.containers || []).map((c) => [c.id, c]));
    for (const c of a.containers || []) {
      if (!state.firstInStream.has(c.id)) state.firstInStream.set(c.id, state.samples);
    }
    renderSummary(a);
    // Only the 15-minute view is fed live; longer ranges reload every minute.
    if (state.range === "15m") {
      const x = a.timestamp ? Date.parse(a.timestamp) : Date.now();
      appendPoint(charts.clusterCpu, x, [a.total_cpu_percent]);
      appendPoint(charts.clusterMemory, x, [a.total_memory_usage_bytes / MiB]);
      const c = state.selected && state.stats.get(state.selected);
      if (c) {
        appendPoint(charts.containerCpu, x, [c.cpu.percent]);
        appendPoint(charts.containerMemory, x, [c.memory.usage_bytes / MiB]);
        const net = c.network || {};
        appendPoint(charts.containerNetwork, x, [(net.rx_bytes_per_sec || 0) / 1024, (net.tx_bytes_per_sec || 0) / 1024]);
        const io = c.blkio || {};
        appendPoint(charts.containerDisk, x, [(io.read_bytes_per_sec || 0) / 1024, (io.write_bytes_per_sec || 0) / 1024]);
      }
    }
    renderTable();
    // The header and the table must not contradict each other: when the stream counts other
    // containers than the list holds, the list is asked again (docker-api's list may trail).
    if (tableDisagrees(a)) {
      state.relists++;
      refreshContainers();
    }
  }

  // The stream's sample is the answering node's; the list may be the whole cluster's.
  function tableDisagrees(a) {
    const mine = state.containers.filter((c) => !a.node || !c.node || c.node === a.node);
    const running = mine.filter((c) => c.state === "running").length;
    const listed = new Set(mine.map((c) => c.id));
    return (
      running !== a.running ||
      mine.length !== a.total_containers ||
      (a.containers || []).some((c) => !listed.has(c.id))
    );
  }

  // One list request at a time; a request made meanwhile runs once more after it, so a change
  // announced during a request is never lost.
  let refreshing = null;
  let refreshAgain = false;
  function refreshContainers() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        refreshAgain = false;
        try {
          const list = await getJson("/api/containers?all=true");
          state.containers = list.containers || [];
          renderNodeFilter();
          renderTable();
          if (hasNodes() && !state.nodes) refreshNodes();
        } catch (e) {
          if (!isOutage(e)) report(e);
        }
      } while (refreshAgain);
      refreshing = null;
    })();
    return refreshing;
  }

  // A container started, stopped or changed health: list again now, and once more shortly in
  // case docker-api announced it before its own list caught up.
  function onContainerEvent() {
    refreshContainers();
    setTimeout(refreshContainers, 1500);
    // The dashboard records the event from its own listing: ask for it once that is done.
    if (state.selectedName) setTimeout(refreshEvents, 2500);
  }

  // ---- the table -----------------------------------------------------------------------------

  // One row's values, for display and for sorting.
  function row(c) {
    const s = c.state === "running" ? state.stats.get(c.id) : null;
    const started = c.started_at ? Date.parse(c.started_at) : NaN;
    return {
      id: c.id,
      name: c.name,
      node: c.node || "",
      image: c.image || "",
      state: c.state,
      status: c.status || c.state,
      health: c.health || "none",
      cpu: s ? s.cpu.percent : null,
      memory: s ? s.memory.usage_bytes : null,
      memory_limit: s ? s.memory.limit_bytes : null,
      memory_percent: s ? s.memory.percent : null,
      restarts: c.restart_count || 0,
      uptime: c.state === "running" && isFinite(started) ? (Date.now() - started) / 1000 : null,
      group: groupOf(c.labels || {}),
    };
  }

  // Compose project, else swarm stack, else swarm service; "" for none.
  function groupOf(labels) {
    if (labels["com.docker.compose.project"]) return "project " + labels["com.docker.compose.project"];
    if (labels["com.docker.stack.namespace"]) return "stack " + labels["com.docker.stack.namespace"];
    if (labels["com.docker.swarm.service.name"]) return "service " + labels["com.docker.swarm.service.name"];
    return "";
  }

  // A group's header row: a button folding it (Enter or Space), and its sums.
  function groupRow(key, members, columns) {
    const tr = document.createElement("tr");
    tr.className = "group-row";
    tr.dataset.group = key;
    const th = document.createElement("th");
    th.scope = "rowgroup";
    th.colSpan = columns;
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.groupToggle = key;
    const open = !state.collapsed.has(key);
    button.setAttribute("aria-expanded", String(open));
    button.textContent = key || "not in a project";
    const running = members.filter((r) => r.state === "running").length;
    const cpu = members.reduce((sum, r) => sum + (r.cpu || 0), 0);
    const memory = members.reduce((sum, r) => sum + (r.memory || 0), 0);
    const sums = document.createElement("span");
    sums.className = "group-sums";
    sums.dataset.running = running;
    sums.dataset.total = members.length;
    sums.dataset.cpu = String(cpu);
    sums.dataset.memory = String(memory);
    sums.textContent = running + " / " + members.length + " running · CPU " + percent(cpu) + " · memory " + bytes(memory);
    th.append(button, sums);
    tr.appendChild(th);
    return tr;
  }

  const hasNodes = () => state.containers.some((c) => typeof c.node === "string" && c.node !== "");

  function renderNodeFilter() {
    const show = hasNodes();
    $("node-filter-label").hidden = !show;
    document.querySelectorAll('[data-col="node"]').forEach((el) => (el.hidden = !show));
    if (!show) return;
    const select = $("node-filter");
    const nodes = [...new Set(state.containers.map((c) => c.node).filter(Boolean))].sort();
    const current = select.value;
    select.replaceChildren(new Option("all nodes", ""), ...nodes.map((n) => new Option(n, n)));
    select.value = nodes.includes(current) ? current : "";
    state.node = select.value;
  }

  function compare(a, b) {
    const k = state.sortKey;
    const va = a[k];
    const vb = b[k];
    if (va == null && vb == null) return a.name.localeCompare(b.name);
    if (va == null) return 1; // missing figures last, whichever the direction
    if (vb == null) return -1;
    const order = typeof va === "string" ? va.localeCompare(vb) : va - vb;
    return order === 0 ? a.name.localeCompare(b.name) : order * state.sortDir;
  }

  function cell(tr, col, text, className) {
    const td = document.createElement("td");
    td.dataset.col = col;
    td.textContent = text;
    if (className) td.className = className;
    tr.appendChild(td);
    return td;
  }

  function stateKind(s) {
    if (s === "running") return "ok";
    if (s === "restarting" || s === "paused") return "warn";
    if (s === "dead") return "bad";
    return "idle";
  }
  const healthKind = (h) => ({ healthy: "ok", unhealthy: "bad", starting: "warn" })[h] || "idle";

  function badge(td, text, kind) {
    td.textContent = "";
    const span = document.createElement("span");
    span.className = "badge badge-" + kind;
    span.textContent = text;
    td.appendChild(span);
  }

  function renderTable() {
    const tbody = document.querySelector("#container-table tbody");
    const active = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset : {};
    const focusedId = active.id || null;
    const focusedGroup = active.groupToggle;
    const showNodes = hasNodes();
    const needle = state.filter.toLowerCase();
    const rows = state.containers
      .map(row)
      .filter((r) => r.name.toLowerCase().includes(needle))
      .filter((r) => !state.node || r.node === state.node)
      .sort(compare);
    const trs = rows.map((r) => {
      const tr = document.createElement("tr");
      tr.tabIndex = 0;
      tr.dataset.id = r.id;
      tr.dataset.name = r.name;
      tr.setAttribute("aria-selected", String(state.selected === r.id));
      tr.setAttribute("aria-label", r.name + ", " + r.state + ", health " + r.health + "; Enter opens its graphs");
      cell(tr, "name", r.name).title = r.name;
      if (showNodes) cell(tr, "node", r.node || "–");
      const image = cell(tr, "image", shortImage(r.image), "image wide");
      image.title = r.image;
      badge(cell(tr, "state", ""), r.state, stateKind(r.state));
      tr.lastChild.title = r.status;
      badge(cell(tr, "health", ""), r.health, healthKind(r.health));
      const cpu = cell(tr, "cpu", percent(r.cpu), "num");
      if (r.cpu != null) cpu.dataset.value = String(r.cpu);
      cell(
        tr,
        "memory",
        r.memory == null ? "–" : bytes(r.memory) + " / " + bytes(r.memory_limit),
        "num"
      );
      cell(tr, "memory_percent", percent(r.memory_percent), "num");
      cell(tr, "restarts", String(r.restarts), "num wide");
      cell(tr, "uptime", r.uptime == null ? "–" : duration(r.uptime), "num");
      if (r.state === "running" && !state.firstInTable.has(r.id)) state.firstInTable.set(r.id, state.samples);
      return tr;
    });
    tbody.replaceChildren(...grouped(rows, trs));
    if (focusedGroup != null) {
      const again = tbody.querySelector('button[data-group-toggle="' + CSS.escape(focusedGroup) + '"]');
      if (again) again.focus();
    }
    $("count").textContent = rows.length + " of " + state.containers.length + " containers";
    if (focusedId) {
      const again = tbody.querySelector('tr[data-id="' + CSS.escape(focusedId) + '"]');
      if (again) again.focus();
    }
    document.querySelectorAll("#container-table th").forEach((th) => {
      const key = th.dataset.col;
      if (key === state.sortKey) th.setAttribute("aria-sort", state.sortDir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    if (state.selected) {
      const c = state.containers.find((x) => x.id === state.selected);
      if (c) $("detail-title").textContent = c.name + " · " + c.state;
    }
  }

  // The rows under their groups' headers (groups by name, "not in a project" last), or as they
  // are when grouping is off or no container is in a group.
  function grouped(rows, trs) {
    if (!state.grouped || !rows.some((r) => r.group)) return trs;
    const columns = document.querySelectorAll("#container-table thead th:not([hidden])").length;
    const groups = new Map();
    rows.forEach((r, i) => {
      if (!groups.has(r.group)) groups.set(r.group, []);
      groups.get(r.group).push(i);
    });
    const keys = [...groups.keys()].sort((a, b) => (a === "") - (b === "") || a.localeCompare(b));
    const out = [];
    for (const key of keys) {
      const members = groups.get(key);
      out.push(groupRow(key, members.map((i) => rows[i]), columns));
      if (!state.collapsed.has(key)) members.forEach((i) => out.push(trs[i]));
    }
    return out;
  }

  function toggleGroup(key) {
    if (state.collapsed.has(key)) state.collapsed.delete(key);
    else state.collapsed.add(key);
    renderTable();
  }

  // ---- container detail ----------------------------------------------------------------------

  function openDetail(id) {
    const c = state.containers.find((x) => x.id === id);
    if (!c) return;
    state.selected = id;
    state.selectedName = c.name;
    $("detail").hidden = false;
    $("detail-title").textContent = c.name + " · " + c.state;
    clearContainerCharts();
    seedContainerHistory(id);
    renderGrafanaLink();
    $("detail-events").replaceChildren();
    $("events-status").textContent = "loading…";
    refreshEvents();
    renderTable();
    $("detail").scrollIntoView({ block: "nearest" });
    $("detail-title").focus({ preventScroll: true });
  }

  function closeDetail() {
    const id = state.selected;
    state.selected = null;
    state.selectedName = null;
    $("detail").hidden = true;
    renderTable();
    const tr = id && document.querySelector('#container-table tbody tr[data-id="' + CSS.escape(id) + '"]');
    if (tr) tr.focus();
  }

  // ---- alerts --------------------------------------------------------------------------------

  async function refreshAlerts() {
    const panel = $("alerts");
    const status = $("alerts-status");
    const list = $("alerts-list");
    let body;
    try {
      body = await getJson("/alerts");
    } catch (e) {
      panel.classList.remove("quiet");
      status.textContent = "Alertmanager unreachable: " + e.message;
      list.replaceChildren();
      return;
    }
    if (!body.configured) {
      panel.classList.add("quiet");
      panel.dataset.configured = "false";
      status.textContent = "Alertmanager not configured (--alertmanager.url)";
      list.replaceChildren();
      return;
    }
    panel.dataset.configured = "true";
    const alerts = body.alerts || [];
    panel.classList.toggle("quiet", alerts.length === 0);
    status.textContent = alerts.length === 0 ? "none firing" : alerts.length + " firing";
    list.replaceChildren(
      ...alerts.map((a) => {
        const labels = a.labels || {};
        const annotations = a.annotations || {};
        const li = document.createElement("li");
        const severity = labels.severity || "alert";
        const b = document.createElement("span");
        b.className = "badge badge-" + (severity === "critical" ? "bad" : "warn");
        b.textContent = severity;
        const name = document.createElement("strong");
        name.textContent = labels.alertname || "(unnamed)";
        const text = document.createElement("span");
        text.textContent = annotations.summary || annotations.description || "";
        const since = document.createElement("span");
        since.className = "muted";
        since.textContent = a.startsAt ? "since " + new Date(a.startsAt).toLocaleTimeString() : "";
        li.append(b, name, text, since);
        return li;
      })
    );
  }

  // ---- wiring --------------------------------------------------------------------------------

  function report(e) {
    state.errors.push(String((e && e.message) || e));
    if (window.console) console.error(e);
  }

  function wire() {
    $("filter").addEventListener("input", (e) => {
      state.filter = e.target.value;
      renderTable();
    });
    $("node-filter").addEventListener("change", (e) => {
      state.node = e.target.value;
      renderNodes(state.nodes);
      renderTable();
    });
    document.querySelectorAll("#container-table th button").forEach((button) => {
      button.addEventListener("click", () => {
        const key = button.dataset.sort;
        if (state.sortKey === key) state.sortDir = -state.sortDir;
        else {
          state.sortKey = key;
          // Biggest first for figures, A-Z for text.
          state.sortDir = ["name", "node", "image", "state", "health"].includes(key) ? 1 : -1;
        }
        renderTable();
      });
    });
    const tbody = document.querySelector("#container-table tbody");
    tbody.addEventListener("click", (e) => {
      const toggle = e.target.closest("button[data-group-toggle]");
      if (toggle) {
        toggleGroup(toggle.dataset.groupToggle);
        return;
      }
      const tr = e.target.closest("tr");
      if (tr && tr.dataset.id) openDetail(tr.dataset.id);
    });
    // A group's header takes focus on its button; a container's row on itself.
    const focusTarget = (tr) => (tr && tr.classList.contains("group-row") ? tr.querySelector("button") : tr);
    tbody.addEventListener("keydown", (e) => {
      const tr = e.target.closest("tr");
      if (!tr) return;
      if ((e.key === "Enter" || e.key === " ") && tr.dataset.id) {
        e.preventDefault();
        openDetail(tr.dataset.id);
      } else if (e.key === "ArrowDown" && tr.nextElementSibling) {
        e.preventDefault();
        focusTarget(tr.nextElementSibling).focus();
      } else if (e.key === "ArrowUp" && tr.previousElementSibling) {
        e.preventDefault();
        focusTarget(tr.previousElementSibling).focus();
      }
    });
    $("group-toggle").addEventListener("change", (e) => {
      state.grouped = e.target.checked;
      renderTable();
    });
    document.querySelectorAll("#ranges button").forEach((b) => b.addEventListener("click", () => chooseRange(b.dataset.range)));
    const nodeRows = document.querySelector("#node-table tbody");
    nodeRows.addEventListener("click", (e) => {
      const tr = e.target.closest("tr");
      if (tr) chooseNode(tr.dataset.node);
    });
    nodeRows.addEventListener("keydown", (e) => {
      const tr = e.target.closest("tr");
      if (tr && (e.key === "Enter" || e.key === " ")) {
        e.preventDefault();
        chooseNode(tr.dataset.node);
      }
    });
    $("detail-close").addEventListener("click", closeDetail);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && state.selected) closeDetail();
    });
  }

  window.addEventListener("error", (e) => report(e.error || e.message));

  async function loadConfig() {
    try {
      state.config = await getJson("/page-config");
      renderGrafanaLink();
    } catch (e) {
      if (!isOutage(e)) report(e);
    }
  }

  function start() {
    setupCharts();
    wire();
    loadConfig();
    connect();
    refreshHealth();
    refreshAlerts();
    setInterval(refreshHealth, HEALTH_REFRESH_MS);
    setInterval(refreshAlerts, ALERTS_REFRESH_MS);
    setInterval(() => {
      if (state.connected) refreshContainers();
    }, LIST_REFRESH_MS);
    setInterval(refreshNodes, NODES_REFRESH_MS);
    setInterval(() => {
      if (state.range === "15m") return;
      seedClusterHistory();
      if (state.selected) seedContainerHistory(state.selected);
    }, LONG_REFRESH_MS);
    setInterval(refreshEvents, EVENTS_REFRESH_MS);
  }

  // For the browser tests and for poking around in the console.
  window.clustermon = { state: state, charts: charts };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
