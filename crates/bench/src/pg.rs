//! The `pg` target: pg-exporter and Debian's postgres_exporter scraping one private PostgreSQL
//! cluster (testkit's `PgCluster`) with `--databases` databases holding `--tables` tables in all.
//!
//! Both auto-discover the databases (one connection per database each) and export the per-table
//! families: pg-exporter by default, postgres_exporter from the `pg_stat_user_tables` and
//! `pg_statio_user_tables` queries of the queries.yaml example Debian ships, so both tools do the
//! same work. Only the exporters' own processes are measured; PostgreSQL's backends are not.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use testkit::free_port;
use testkit::postgres::PgCluster;

use crate::{our_binary, versioned_label, Backends, Contender, Upstream};

/// Where Debian's package puts postgres_exporter's example queries file.
const UPSTREAM_EXAMPLE_QUERIES: &str =
    "/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml";

/// The example's queries for the families pg-exporter has built in.
const PER_TABLE_QUERIES: [&str; 2] = ["pg_stat_user_tables", "pg_statio_user_tables"];

/// The two contenders on a freshly filled cluster; the cluster and the queries file are returned
/// to be kept alive for the run.
///
/// Debian 12's postgres_exporter (0.11) gets the per-table families from its example queries
/// file; today's (0.17) has them as built-in collectors, enabled by default.
pub fn contenders(
    databases: usize,
    tables: usize,
    which: Upstream,
) -> Result<(Contender, Contender, Backends)> {
    let upstream_program = which.program("prometheus-postgres-exporter")?;
    let ours_program = our_binary("pg-exporter")?;
    let pg = PgCluster::start();
    // Each exporter holds one connection per database.
    pg.psql(
        "postgres",
        &format!("ALTER SYSTEM SET max_connections = {}", 2 * databases + 50),
    );
    pg.stop_server();
    pg.start_server();
    eprintln!("filling the cluster: {databases} databases, {tables} tables");
    pg.psql_script("postgres", &fill_script(databases, tables));
    pg.psql("postgres", "VACUUM ANALYZE");

    let dir = tempfile::tempdir().context("temp dir for the queries file")?;
    let queries = dir.path().join("per-table-queries.yaml");
    let example = std::fs::read_to_string(UPSTREAM_EXAMPLE_QUERIES)
        .with_context(|| format!("read {UPSTREAM_EXAMPLE_QUERIES}"))?;
    std::fs::write(&queries, top_level_entries(&example, &PER_TABLE_QUERIES))
        .with_context(|| format!("write {}", queries.display()))?;

    let dsn = pg.uri("postgres");
    let env = vec![("DATA_SOURCE_NAME".to_string(), dsn)];
    let (a, b) = (free_port(), free_port());
    let ours = Contender {
        label: "pg-exporter".into(),
        program: ours_program,
        args: vec![
            format!("--web.listen-address=127.0.0.1:{a}"),
            "--auto-discover-databases".into(),
        ],
        env: env.clone(),
        path: "/metrics".into(),
        port: a,
    };
    let mut upstream_args = vec![
        format!("--web.listen-address=127.0.0.1:{b}"),
        "--auto-discover-databases".into(),
    ];
    if which == Upstream::Debian12 {
        upstream_args.push(format!("--extend.query-path={}", path_text(&queries)));
    }
    let upstream = Contender {
        label: versioned_label("postgres_exporter", &upstream_program),
        program: upstream_program,
        args: upstream_args,
        env,
        path: "/metrics".into(),
        port: b,
    };
    Ok((ours, upstream, vec![Box::new(pg), Box::new(dir)]))
}

/// SQL for psql: `databases` databases `bench_N`, with `tables` tables spread over them, each
/// with a primary key and a few rows (so the per-table statistics are not all zero).
fn fill_script(databases: usize, tables: usize) -> String {
    let mut script = String::new();
    for d in 0..databases {
        let _ = writeln!(
            script,
            "\\c postgres\nCREATE DATABASE bench_{d};\n\\c bench_{d}"
        );
        let here = tables / databases + usize::from(d < tables % databases);
        for t in 0..here {
            let _ = writeln!(
                script,
                "CREATE TABLE t_{t} (id int PRIMARY KEY, v text); \
                 INSERT INTO t_{t} SELECT g, 'x' FROM generate_series(1, 20) g;"
            );
        }
    }
    script
}

/// The named top-level entries of a YAML mapping, cut out as text (an entry runs from its
/// `name:` line at column 0 to the next line at column 0 that is not a comment).
fn top_level_entries(yaml: &str, names: &[&str]) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in yaml.lines() {
        let top_level = !line.is_empty() && !line.starts_with([' ', '\t', '#']);
        if top_level {
            keep = names.iter().any(|n| {
                line.strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with(':'))
            });
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_named_entries_out_of_a_queries_file() {
        let yaml = "a:\n  query: x\n\nb:\n  query: y\n  # note\nbb:\n  query: z\n# c\nc:\n  q: 1\n";
        assert_eq!(
            top_level_entries(yaml, &["b", "c"]),
            "b:\n  query: y\n  # note\nc:\n  q: 1\n"
        );
    }

    #[test]
    fn spreads_tables_over_databases() {
        let script = fill_script(3, 7);
        assert_eq!(script.matches("CREATE DATABASE").count(), 3);
        assert_eq!(script.matches("CREATE TABLE").count(), 7);
    }
}
