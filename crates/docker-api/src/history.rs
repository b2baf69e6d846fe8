//! The bounded in-memory series behind the dashboard's graphs: per container and for the
//! aggregate, the last `window` at the sample interval and the last `long_window` at one point
//! per `long_step` (a mean of the samples in that step).
//!
//! Memory is bounded by construction: every series is a ring trimmed by time and capped by
//! count, a point is 32 bytes, and a container that is gone is dropped once it has had no
//! sample for `keep_removed`, or sooner when more than `max_removed` gone containers are kept
//! (the longest gone first): without that count, a host churning short-lived containers (CI
//! jobs) would keep one series per container started in the last `keep_removed`, however many.
//! With the defaults (2 s, 15 min, 24 h at 1/min) a series holds at most 451 + 1441 points,
//! about 60 KB: 100 containers and the aggregate take about 6.1 MB, and gone containers add at
//! most 100 series more. The rings start empty and grow (doubling, capped at those counts) as
//! points arrive, so a short-lived container costs what it held (under 1 KB for 30 s, about
//! 8 KB for 5 min), not 60 KB.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

/// One point of a series. Rates are per second; `t` is seconds since the epoch. `f32` keeps a
/// point small; seven significant digits are plenty for a graph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Point {
    /// Seconds since the epoch.
    pub t: u32,
    pub cpu_percent: f32,
    pub memory_bytes: f32,
    pub memory_percent: f32,
    pub rx_bytes_per_sec: f32,
    pub tx_bytes_per_sec: f32,
    pub read_bytes_per_sec: f32,
    pub write_bytes_per_sec: f32,
}

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sample interval of the fine series.
    pub interval: Duration,
    /// How far back the fine series goes.
    pub window: Duration,
    /// How far back the coarse series goes.
    pub long_window: Duration,
    /// One coarse point per this much time.
    pub long_step: Duration,
    /// How long a container that has no samples any more keeps its history.
    pub keep_removed: Duration,
    /// How many containers that have no samples any more keep their history at once.
    pub max_removed: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            window: Duration::from_secs(15 * 60),
            long_window: Duration::from_secs(24 * 3600),
            long_step: Duration::from_secs(60),
            keep_removed: Duration::from_secs(15 * 60),
            max_removed: 100,
        }
    }
}

impl Limits {
    fn fine_capacity(&self) -> usize {
        capacity(self.window, self.interval)
    }

    fn coarse_capacity(&self) -> usize {
        capacity(self.long_window, self.long_step)
    }

    /// The most memory the store can take for `series` series (containers plus the aggregate).
    pub fn max_bytes(&self, series: usize) -> usize {
        let per_series = (self.fine_capacity() + self.coarse_capacity())
            * std::mem::size_of::<Point>()
            + std::mem::size_of::<Series>();
        series * per_series
    }
}

fn capacity(window: Duration, step: Duration) -> usize {
    let step = step.as_millis().max(1);
    (window.as_millis().div_ceil(step) as usize).saturating_add(1)
}

/// The points of one window, and the spacing between them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Window {
    pub window_seconds: u64,
    pub step_seconds: f64,
    pub points: Vec<Point>,
}

/// The fine and coarse rings of one container or of the aggregate.
#[derive(Debug)]
struct Series {
    fine: VecDeque<Point>,
    coarse: VecDeque<Point>,
    /// The coarse step being filled: its start and the sum of its samples.
    bucket: Option<(u32, Point, u32)>,
    last: u32,
}

impl Series {
    /// Both rings empty: they grow as samples arrive, up to their capacity (see
    /// [`push_trimmed`]), so a short-lived container costs what it held, not a full day's rings.
    fn new() -> Self {
        Self {
            fine: VecDeque::new(),
            coarse: VecDeque::new(),
            bucket: None,
            last: 0,
        }
    }

    fn push(&mut self, p: Point, limits: &Limits) {
        self.last = p.t;
        push_trimmed(&mut self.fine, p, limits.window, limits.fine_capacity());
        let step = seconds_u32(limits.long_step).max(1);
        let start = p.t - p.t % step;
        match &mut self.bucket {
            Some((s, sum, n)) if *s == start => {
                add(sum, &p);
                *n += 1;
            }
            _ => {
                if let Some((s, sum, n)) = self.bucket.take() {
                    let mean = mean(s, &sum, n);
                    push_trimmed(
                        &mut self.coarse,
                        mean,
                        limits.long_window,
                        limits.coarse_capacity(),
                    );
                }
                let mut sum = Point::default();
                add(&mut sum, &p);
                self.bucket = Some((start, sum, 1));
            }
        }
    }

    /// The coarse series including the step still being filled.
    fn coarse_points(&self) -> impl Iterator<Item = Point> + '_ {
        let open = self.bucket.map(|(s, sum, n)| mean(s, &sum, n));
        self.coarse.iter().copied().chain(open)
    }
}

fn push_trimmed(ring: &mut VecDeque<Point>, p: Point, window: Duration, cap: usize) {
    // A clock that stepped back would leave points out of order: start over rather than lie.
    if ring.back().is_some_and(|last| last.t > p.t) {
        ring.clear();
    }
    // Points are stamped in whole seconds: a round that came late and the next one can fall in
    // the same second; the later sample stands for it, so timestamps stay strictly increasing.
    if ring.back().is_some_and(|last| last.t == p.t) {
        ring.pop_back();
    }
    let oldest = p.t.saturating_sub(seconds_u32(window));
    let cap = cap.max(1);
    // Trim before pushing so the ring never holds more than `cap` points.
    while ring.len() >= cap || ring.front().is_some_and(|f| f.t < oldest) {
        ring.pop_front();
    }
    grow_towards(ring, cap);
    ring.push_back(p);
}

/// The fewest points a ring allocates room for once it holds one.
const FIRST_ALLOCATION: usize = 8;

/// Makes room for one more point when the ring is full: doubling, but never past `cap`, so
/// `push_back` does not reallocate on its own (which would round up beyond `cap`).
fn grow_towards(ring: &mut VecDeque<Point>, cap: usize) {
    if ring.len() < ring.capacity() {
        return;
    }
    let target = ring
        .capacity()
        .saturating_mul(2)
        .max(FIRST_ALLOCATION)
        .min(cap)
        .max(ring.len() + 1);
    ring.reserve_exact(target - ring.len());
}

/// Whole seconds of `d`, saturating at `u32::MAX` (points are stamped in `u32` seconds).
fn seconds_u32(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

fn add(sum: &mut Point, p: &Point) {
    sum.cpu_percent += p.cpu_percent;
    sum.memory_bytes += p.memory_bytes;
    sum.memory_percent += p.memory_percent;
    sum.rx_bytes_per_sec += p.rx_bytes_per_sec;
    sum.tx_bytes_per_sec += p.tx_bytes_per_sec;
    sum.read_bytes_per_sec += p.read_bytes_per_sec;
    sum.write_bytes_per_sec += p.write_bytes_per_sec;
}

fn mean(start: u32, sum: &Point, n: u32) -> Point {
    let n = n.max(1) as f32;
    Point {
        t: start,
        cpu_percent: sum.cpu_percent / n,
        memory_bytes: sum.memory_bytes / n,
        memory_percent: sum.memory_percent / n,
        rx_bytes_per_sec: sum.rx_bytes_per_sec / n,
        tx_bytes_per_sec: sum.tx_bytes_per_sec / n,
        read_bytes_per_sec: sum.read_bytes_per_sec / n,
        write_bytes_per_sec: sum.write_bytes_per_sec / n,
    }
}

/// Every series, keyed by container id, plus the aggregate.
#[derive(Debug)]
pub struct History {
    limits: Limits,
    aggregate: Series,
    containers: HashMap<String, Series>,
}

impl History {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            aggregate: Series::new(),
            containers: HashMap::new(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Adds one sampling round taken at `t`: the aggregate and each running container. Series
    /// of containers without a sample for longer than `keep_removed` are dropped.
    pub fn record<'a>(
        &mut self,
        t: u32,
        aggregate: Point,
        containers: impl IntoIterator<Item = (&'a str, Point)>,
    ) {
        let limits = self.limits;
        self.aggregate.push(Point { t, ..aggregate }, &limits);
        for (id, p) in containers {
            match self.containers.get_mut(id) {
                Some(series) => series.push(Point { t, ..p }, &limits),
                None => {
                    let mut series = Series::new();
                    series.push(Point { t, ..p }, &limits);
                    self.containers.insert(id.to_string(), series);
                }
            }
        }
        let keep = seconds_u32(limits.keep_removed);
        self.containers
            .retain(|_, s| t.saturating_sub(s.last) <= keep);
        self.drop_removed_over(limits.max_removed, t);
    }

    /// Keeps at most `max` series of containers without a sample at `t`: those gone longest
    /// are dropped first.
    fn drop_removed_over(&mut self, max: usize, t: u32) {
        let mut gone: Vec<(u32, &str)> = self
            .containers
            .iter()
            .filter(|(_, s)| s.last != t)
            .map(|(id, s)| (s.last, id.as_str()))
            .collect();
        let Some(excess) = gone.len().checked_sub(max).filter(|n| *n > 0) else {
            return;
        };
        gone.sort_unstable();
        let drop: Vec<String> = gone[..excess]
            .iter()
            .map(|(_, id)| id.to_string())
            .collect();
        for id in drop {
            self.containers.remove(&id);
        }
    }

    /// The aggregate's points within `window` before `now`.
    pub fn aggregate(&self, now: u32, window: Duration) -> Window {
        self.window_of(&self.aggregate, now, window)
    }

    /// A container's points within `window` before `now`; `None` when it has no history.
    pub fn container(&self, id: &str, now: u32, window: Duration) -> Option<Window> {
        self.containers
            .get(id)
            .map(|s| self.window_of(s, now, window))
    }

    pub fn has(&self, id: &str) -> bool {
        self.containers.contains_key(id)
    }

    /// Ids with history, for finding a removed container by id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.containers.keys().map(String::as_str)
    }

    /// Containers with a series.
    pub fn len(&self) -> usize {
        self.containers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
    }

    /// Bytes held by the points now (not counting the map's own overhead).
    pub fn bytes_used(&self) -> usize {
        let point = std::mem::size_of::<Point>();
        std::iter::once(&self.aggregate)
            .chain(self.containers.values())
            .map(|s| {
                (s.fine.capacity() + s.coarse.capacity()) * point + std::mem::size_of::<Series>()
            })
            .sum()
    }

    fn window_of(&self, series: &Series, now: u32, window: Duration) -> Window {
        let oldest = now.saturating_sub(seconds_u32(window));
        if window <= self.limits.window {
            Window {
                window_seconds: window.as_secs(),
                step_seconds: self.limits.interval.as_secs_f64(),
                points: series
                    .fine
                    .iter()
                    .filter(|p| p.t >= oldest)
                    .copied()
                    .collect(),
            }
        } else {
            Window {
                window_seconds: window.as_secs(),
                step_seconds: self.limits.long_step.as_secs_f64(),
                points: series.coarse_points().filter(|p| p.t >= oldest).collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(cpu: f32) -> Point {
        Point {
            cpu_percent: cpu,
            memory_bytes: 1000.0,
            ..Point::default()
        }
    }

    fn limits() -> Limits {
        Limits {
            interval: Duration::from_secs(2),
            window: Duration::from_secs(60),
            long_window: Duration::from_secs(600),
            long_step: Duration::from_secs(60),
            keep_removed: Duration::from_secs(60),
            max_removed: 3,
        }
    }

    #[test]
    fn fine_series_holds_one_point_per_round_within_the_window() {
        let mut h = History::new(limits());
        for i in 0..10 {
            h.record(1000 + i * 2, point(1.0), [("a", point(i as f32))]);
        }
        let w = h.container("a", 1018, Duration::from_secs(60)).unwrap();
        assert_eq!(w.points.len(), 10);
        assert_eq!(w.points[9].cpu_percent, 9.0);
        assert_eq!(w.points[0].t, 1000);
        // A shorter window slices it.
        let w = h.container("a", 1018, Duration::from_secs(4)).unwrap();
        assert_eq!(w.points.len(), 3);
    }

    #[test]
    fn fine_series_is_bounded_by_time_and_count() {
        let mut h = History::new(limits());
        for i in 0..1000 {
            h.record(i * 2, point(1.0), [("a", point(1.0))]);
        }
        let w = h.container("a", 1998, Duration::from_secs(60)).unwrap();
        assert_eq!(w.points.len(), 31);
        assert!(h.containers["a"].fine.len() <= limits().fine_capacity());
        assert!(h.bytes_used() <= limits().max_bytes(2));
    }

    #[test]
    fn coarse_series_has_one_mean_per_step() {
        let mut h = History::new(limits());
        // 0..=59 at cpu 10, 60..=119 at cpu 30, then into the third minute.
        for t in (0..130).step_by(2) {
            let cpu = if t < 60 { 10.0 } else { 30.0 };
            h.record(6000 + t, point(cpu), [("a", point(cpu))]);
        }
        let w = h.container("a", 6128, Duration::from_secs(600)).unwrap();
        assert_eq!(w.step_seconds, 60.0);
        let cpus: Vec<f32> = w.points.iter().map(|p| p.cpu_percent).collect();
        assert_eq!(cpus, vec![10.0, 30.0, 30.0]);
        assert_eq!(w.points[1].t, 6060);
    }

    #[test]
    fn removed_container_history_is_dropped_after_keep_removed() {
        let mut h = History::new(limits());
        h.record(
            100,
            point(0.0),
            [("gone", point(1.0)), ("stays", point(1.0))],
        );
        h.record(150, point(0.0), [("stays", point(1.0))]);
        assert!(h.has("gone"), "kept within keep_removed");
        h.record(161, point(0.0), [("stays", point(1.0))]);
        assert!(!h.has("gone"));
        assert!(h.has("stays"));
        assert_eq!(h.aggregate(161, Duration::from_secs(60)).points.len(), 2);
    }

    #[test]
    fn gone_containers_are_capped_in_count_oldest_first() {
        let mut h = History::new(limits());
        // Ten short-lived containers, one per round, each gone by the next round, all within
        // keep_removed; one container runs throughout.
        for i in 0..10u32 {
            let id = format!("short{i}");
            h.record(
                1000 + i * 2,
                point(0.0),
                [("runs", point(1.0)), (id.as_str(), point(1.0))],
            );
        }
        h.record(1020, point(0.0), [("runs", point(1.0))]);
        assert_eq!(
            h.len(),
            1 + limits().max_removed,
            "the running one and three gone"
        );
        assert!(h.has("runs"));
        for kept in ["short7", "short8", "short9"] {
            assert!(h.has(kept), "{kept}: the most recently gone are kept");
        }
        assert!(!h.has("short6"));
        assert!(h.bytes_used() <= limits().max_bytes(2 + limits().max_removed));
    }

    #[test]
    fn rings_start_small_and_grow_to_at_most_their_capacity() {
        let limits = limits();
        let mut h = History::new(limits);
        h.record(1000, point(0.0), [("a", point(1.0))]);
        let fresh = &h.containers["a"];
        assert!(fresh.fine.capacity() <= FIRST_ALLOCATION, "{fresh:?}");
        assert_eq!(fresh.coarse.capacity(), 0, "no coarse step closed yet");
        // Two hours of rounds: both rings fill to their caps (31 fine, 11 coarse) and stay.
        for i in 1..3600 {
            h.record(1000 + i * 2, point(0.0), [("a", point(1.0))]);
            let s = &h.containers["a"];
            assert!(s.fine.capacity() <= limits.fine_capacity(), "round {i}");
            assert!(s.coarse.capacity() <= limits.coarse_capacity(), "round {i}");
        }
        let full = &h.containers["a"];
        assert_eq!(full.fine.len(), limits.fine_capacity());
        assert_eq!(full.fine.capacity(), limits.fine_capacity());
        assert_eq!(full.coarse.len(), limits.coarse_capacity());
        assert_eq!(full.coarse.capacity(), limits.coarse_capacity());
    }

    #[test]
    fn two_rounds_in_one_second_leave_one_point() {
        let mut h = History::new(limits());
        h.record(500, point(0.0), [("a", point(1.0))]);
        h.record(501, point(0.0), [("a", point(2.0))]);
        h.record(501, point(0.0), [("a", point(3.0))]);
        let w = h.container("a", 501, Duration::from_secs(60)).unwrap();
        let stamps: Vec<u32> = w.points.iter().map(|p| p.t).collect();
        assert_eq!(stamps, [500, 501]);
        assert_eq!(w.points[1].cpu_percent, 3.0);
    }

    #[test]
    fn clock_stepping_back_restarts_the_series() {
        let mut h = History::new(limits());
        h.record(500, point(0.0), [("a", point(1.0))]);
        h.record(400, point(0.0), [("a", point(2.0))]);
        let w = h.container("a", 400, Duration::from_secs(60)).unwrap();
        assert_eq!(w.points.len(), 1);
        assert_eq!(w.points[0].cpu_percent, 2.0);
    }

    #[test]
    fn a_hundred_containers_stay_under_the_stated_figure() {
        let defaults = Limits::default();
        assert_eq!(std::mem::size_of::<Point>(), 32);
        let bound = defaults.max_bytes(101);
        assert!(bound < 6_500_000, "{bound}");
        // Fill a day of history for 100 containers and check what is really held.
        let mut h = History::new(defaults);
        let ids: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
        for round in 0..(24 * 3600 / 2 + 10) {
            let t = 1_000_000 + round * 2;
            h.record(
                t,
                point(1.0),
                ids.iter().map(|id| (id.as_str(), point(1.0))),
            );
        }
        assert!(h.bytes_used() <= bound, "{} > {}", h.bytes_used(), bound);
        let w = h.container("c5", 1_000_000 + 24 * 3600, Duration::from_secs(24 * 3600));
        assert!(w.unwrap().points.len() >= 1440);
    }
}
