//! Docker's containerd image store on the cgroup v2 guest (issue #20, item 3). There
//! `docker inspect` gives `GraphDriver {"Data": null, "Name": "overlayfs"}`: no writable-layer
//! path. Every container must still be found and named, and `container_fs_usage_bytes` must be
//! right (against `docker inspect --size`, what `docker ps -s` shows) or absent, never wrong;
//! container-stats takes the layer from the `upperdir` of the container's root mount in
//! `/proc/<pid>/mountinfo`. The guest's Docker is switched back to overlay2 afterwards, even
//! when a check fails. Runs after `tests/guest.rs` (cargo runs test binaries by name).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(not(vm_guest), allow(dead_code, unused_imports))]

use std::time::Duration;

use vm_e2e::{close, scrape, value, Guest, GuestContainer};

const EXPORTER_PORT: u16 = 8080;
const MIB: f64 = 1024.0 * 1024.0;

/// Puts the guest back on overlay2 when dropped, whatever happened.
struct BackToOverlay2(&'static Guest);

impl Drop for BackToOverlay2 {
    fn drop(&mut self) {
        if let Err(e) = self.0.set_image_store(false) {
            eprintln!("vm-e2e: could not switch the guest back to overlay2: {e}");
        }
    }
}

#[test]
#[cfg_attr(
    not(vm_guest),
    ignore = "CLUSTERMON_VM_DOCKER_HOST not set: the guest checks run under `scripts/vm-host run -- cargo test -p vm-e2e`"
)]
fn containerd_image_store_keeps_names_and_never_exports_a_wrong_layer_size() {
    let guest = Guest::get();
    // The restart stops them anyway; removed first so nothing else restarts on the new store.
    let leftovers = guest.docker_ok(&["ps", "-aq", "--filter", "label=clustermon.test"]);
    for id in leftovers.split_whitespace() {
        let _ = guest.docker(&["rm", "-f", id]);
    }
    let _restore = BackToOverlay2(guest);
    guest
        .set_image_store(true)
        .unwrap_or_else(|e| panic!("{}: {e}", guest.describe()));
    let here = guest.facts().line("guest");
    eprintln!("vm-e2e: {here}");
    let graph_driver_of =
        |id: &str| guest.docker_ok(&["inspect", "--format", "{{json .GraphDriver}}", id]);

    // The images live in the store: load them again into containerd's.
    guest.test_image();
    let [exporter_image, _] = guest.service_images();
    let exporter = GuestContainer::run_image(
        guest,
        "cm-vm-container-exporter",
        &[
            "--user=0",
            "--pid=host",
            "-p",
            &format!("{EXPORTER_PORT}:8080"),
            "-v",
            "/sys:/host/sys:ro",
            "-v",
            "/proc:/host/proc:ro",
            "-v",
            "/:/rootfs:ro",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock:ro",
            &exporter_image,
            "--path.sysfs=/host/sys",
            "--path.procfs=/host/proc",
            "--path.rootfs=/rootfs",
            "--housekeeping_interval=5s",
        ],
    );
    let writer = GuestContainer::run(
        guest,
        &[],
        "dd if=/dev/zero of=/blob bs=1M count=24 2>/dev/null && sync && touch /ready; exec sleep 3600",
    );
    let idle = GuestContainer::run(guest, &[], "exec sleep 3600");
    guest.wait_for("the writer's 24 MiB", Duration::from_secs(120), || {
        writer
            .exec("test -e /ready && echo yes || true")
            .contains("yes")
            .then_some(())
    });
    let no_path = graph_driver_of(&writer.id);
    assert!(
        no_path.contains(r#""Data":null"#),
        "{here}: expected the containerd store's GraphDriver without data, got {no_path}"
    );

    // Every running container, the exporter itself included, found and named.
    let addr = guest.forward(EXPORTER_PORT).to_string();
    let running: Vec<(String, String)> = guest
        .docker_ok(&["ps", "--format", "{{.ID}} {{.Names}}"])
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    assert!(running.len() >= 3, "{here}: docker ps: {running:?}");
    guest.wait_for(
        "container-exporter to export every running container by name",
        Duration::from_secs(180),
        || {
            let f = scrape(&addr).ok()?;
            running
                .iter()
                .all(|(_, name)| value(&f, "container_last_seen", &[("name", name)]).is_some())
                .then_some(f)
        },
    );
    // The writer's layer: measured once the background walk (every 5 s) has run, and right.
    let ours = guest.wait_for(
        "container_fs_usage_bytes of the writer under the containerd store",
        Duration::from_secs(120),
        || {
            value(
                &scrape(&addr).ok()?,
                "container_fs_usage_bytes",
                &[("name", writer.name.as_str())],
            )
        },
    );
    let docker = guest.layer_size(&writer.id) as f64;
    eprintln!(
        "writer's layer on the containerd store: container-exporter {ours}, docker SizeRw {docker}"
    );
    assert!(docker >= 24.0 * MIB, "{here}: docker's SizeRw {docker}");
    assert!(
        close(ours, docker, MIB, 0.1),
        "{here}: container_fs_usage_bytes {ours} vs docker inspect --size (SizeRw) {docker}"
    );
    // Any container's figure, where there is one, is right too.
    let families = scrape(&addr).unwrap_or_else(|e| panic!("{here}: scrape: {e}"));
    for (short_id, name) in &running {
        let Some(ours) = value(&families, "container_fs_usage_bytes", &[("name", name)]) else {
            continue;
        };
        let docker = guest.layer_size(short_id) as f64;
        assert!(
            close(ours, docker, MIB, 0.1),
            "{here}: {name}: container_fs_usage_bytes {ours} vs SizeRw {docker}"
        );
    }
    for (short_id, name) in &running {
        let sample = families["container_last_seen"]
            .samples
            .iter()
            .find(|s| s.labels.get("name") == Some(name))
            .unwrap_or_else(|| panic!("{here}: {name} not exported"));
        let id = sample.labels.get("id").cloned().unwrap_or_default();
        assert!(
            id.starts_with("/system.slice/docker-") && id.contains(short_id.as_str()),
            "{here}: {name}'s cgroup (the id label) is {id}, not its systemd scope \
             /system.slice/docker-{short_id}….scope"
        );
    }
    drop((idle, writer, exporter));
}
