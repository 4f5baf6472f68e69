//! Session reports: sums per agent session, with the project it ran in.

use std::collections::{BTreeMap, BTreeSet};

use super::{Breakdown, ReportRow, Sums, add_model, usage_of};
use crate::analytics::is_listed_model;
use crate::{EventFilter, RollupKey, Store, StoreError};

/// The label of the sums of events that belong to no session.
pub const NO_SESSION: &str = "(no session)";

impl Store {
    /// Sums per session, in order of each session's last activity (oldest first).
    /// Subscriptions and manual costs belong to no session and are left out.
    pub async fn session_report(
        &self,
        filter: &EventFilter,
        breakdown: Breakdown,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let rows = self.rollup(filter, None, RollupKey::SessionProject).await?;
        let entries = self
            .cost_entry_rows(filter, None, RollupKey::SessionProject)
            .await?;
        let mut out: BTreeMap<String, (ReportRow, BTreeSet<String>)> = BTreeMap::new();
        for r in rows.iter().map(|r| usage_of(r, &entries)) {
            if r.events == 0 {
                continue;
            }
            let r = &r;
            let (session, project) = r.key.split_once('|').unwrap_or((&r.key, ""));
            let label = if session.is_empty() {
                NO_SESSION.to_owned()
            } else {
                session.to_owned()
            };
            let (row, models) = out.entry(label.clone()).or_insert_with(|| {
                (
                    ReportRow {
                        label,
                        first_ms: r.first_ms,
                        last_ms: r.last_ms,
                        project: (!project.is_empty()).then(|| project.to_owned()),
                        ..ReportRow::default()
                    },
                    BTreeSet::new(),
                )
            });
            row.sums.add(&Sums::from(r));
            row.first_ms = row.first_ms.min(r.first_ms);
            row.last_ms = row.last_ms.max(r.last_ms);
            add_model(models, &r.model);
            if breakdown == Breakdown::Model && is_listed_model(&r.model) {
                row.breakdown
                    .entry(r.model.clone())
                    .or_default()
                    .add(&Sums::from(r));
            }
        }
        let mut rows: Vec<ReportRow> = out
            .into_values()
            .map(|(mut row, models)| {
                row.models = models.into_iter().collect();
                row
            })
            .collect();
        rows.sort_by(|a, b| a.last_ms.cmp(&b.last_ms).then(a.label.cmp(&b.label)));
        Ok(rows)
    }
}
