//! `pg_roles_connection_limit{rolname}`.

use super::{for_rows, num, Out};
use crate::target::Session;

const QUERY: &str = "SELECT rolname, rolconnlimit FROM pg_roles";

pub async fn collect(s: &Session, out: &mut Out) -> Result<(), tokio_postgres::Error> {
    for_rows(s, QUERY, |row| {
        out.gauge(
            "pg_roles_connection_limit",
            "Connection limit set for the role",
            &[("rolname", row.get(0).unwrap_or_default())],
            num(row.get(1)),
        );
    })
    .await
}
