//! Alert history: every firing with its rule, value, threshold and time, whether it was
//! acknowledged, and how each channel's delivery went.
//!
//! Invariants: `dedup_key` is unique within a tenant, so inserting the same firing twice (the
//! same rule, subject and period) is a no-op that reports "not new" — that is what stops alert
//! storms — while another tenant's rule of the same name fires on its own. Every call reads or
//! changes one tenant's alerts. A delivery
//! row exists for every channel from the moment the alert is stored (status `pending`), so a
//! delivery that never finished is visible, never silently lost.

use sqlx::Row;

use crate::{Store, StoreError, with_pool};

/// A firing to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub id: String,
    /// Rule + subject + period: unique.
    pub dedup_key: String,
    pub rule: String,
    /// `budget_threshold`, `cost_above`, `spike`, … (core `AlertKind` names).
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub message: String,
    pub value: i64,
    pub threshold: i64,
    /// `micros`, `tokens`, `percent_x100`, `ms`, `count`, `requests`.
    pub unit: String,
    pub period_start_ms: Option<i64>,
    pub fired_ms: i64,
    /// JSON object with anything else (forecast, baseline, …).
    pub detail: String,
}

/// A stored firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub alert: NewAlert,
    pub acknowledged_ms: Option<i64>,
    pub deliveries: Vec<DeliveryRow>,
}

/// How one channel's delivery of an alert went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub channel: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_ms: i64,
}

const ALERT_COLUMNS: &str = "id, dedup_key, rule, kind, severity, message, value, threshold, unit, period_start_ms, fired_ms, acknowledged_ms, detail";

impl Store {
    /// Stores a firing of `tenant` and a `pending` delivery per channel, in one transaction.
    /// False (and nothing written) when the same `dedup_key` already fired in that tenant.
    pub async fn insert_alert(
        &self,
        tenant: &str,
        alert: &NewAlert,
        channels: &[String],
    ) -> Result<bool, StoreError> {
        let err = StoreError::query;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(err("storing an alert"))?;
            let inserted = sqlx::query(
                "INSERT INTO alerts (id, dedup_key, rule, kind, severity, message, value, threshold, unit, period_start_ms, fired_ms, detail, tenant) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (tenant, dedup_key) DO NOTHING",
            )
            .bind(&alert.id)
            .bind(&alert.dedup_key)
            .bind(&alert.rule)
            .bind(&alert.kind)
            .bind(&alert.severity)
            .bind(&alert.message)
            .bind(alert.value)
            .bind(alert.threshold)
            .bind(&alert.unit)
            .bind(alert.period_start_ms)
            .bind(alert.fired_ms)
            .bind(&alert.detail)
            .bind(tenant)
            .execute(&mut *tx)
            .await
            .map_err(err("storing an alert"))?
            .rows_affected();
            if inserted == 0 {
                return Ok(false);
            }
            for channel in channels {
                sqlx::query("INSERT INTO alert_deliveries (alert_id, channel, status, attempts, updated_ms) VALUES ($1, $2, 'pending', 0, $3)")
                    .bind(&alert.id)
                    .bind(channel)
                    .bind(alert.fired_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("storing an alert"))?;
            }
            tx.commit().await.map_err(err("storing an alert"))?;
            Ok(true)
        })
    }

    /// Records a delivery attempt's outcome.
    pub async fn set_delivery(
        &self,
        alert_id: &str,
        channel: &str,
        status: &str,
        attempts: i64,
        last_error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query(
            "UPDATE alert_deliveries SET status = $1, attempts = $2, last_error = $3, updated_ms = $4 WHERE alert_id = $5 AND channel = $6",
        )
        .bind(status)
        .bind(attempts)
        .bind(last_error)
        .bind(now_ms)
        .bind(alert_id)
        .bind(channel)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(StoreError::query("recording a delivery")))
    }

    /// `tenant`'s alerts newest first, with their deliveries; only unacknowledged ones when
    /// asked.
    pub async fn list_alerts(
        &self,
        tenant: &str,
        unacknowledged_only: bool,
        limit: u32,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let limit = i64::from(limit.clamp(1, 1000));
        let filter = if unacknowledged_only {
            " AND acknowledged_ms IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE tenant = $2{filter} ORDER BY fired_ms DESC, id DESC LIMIT $1"
        );
        let mut alerts: Vec<AlertRow> = with_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(limit).bind(tenant).fetch_all(pool).await.map_err(StoreError::query("reading alerts"))?;
            rows.iter()
                .map(|r| {
                    Ok(AlertRow {
                        alert: NewAlert {
                            id: r.try_get(0)?,
                            dedup_key: r.try_get(1)?,
                            rule: r.try_get(2)?,
                            kind: r.try_get(3)?,
                            severity: r.try_get(4)?,
                            message: r.try_get(5)?,
                            value: r.try_get(6)?,
                            threshold: r.try_get(7)?,
                            unit: r.try_get(8)?,
                            period_start_ms: r.try_get(9)?,
                            fired_ms: r.try_get(10)?,
                            detail: r.try_get(12)?,
                        },
                        acknowledged_ms: r.try_get(11)?,
                        deliveries: Vec::new(),
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("reading alerts"))?
        });
        for a in &mut alerts {
            a.deliveries = self.deliveries(&a.alert.id).await?;
        }
        Ok(alerts)
    }

    async fn deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRow>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT channel, status, attempts, last_error, updated_ms FROM alert_deliveries WHERE alert_id = $1 ORDER BY channel")
                .bind(alert_id)
                .fetch_all(pool)
                .await
                .map_err(StoreError::query("reading deliveries"))?;
            rows.iter()
                .map(|r| Ok(DeliveryRow { channel: r.try_get(0)?, status: r.try_get(1)?, attempts: r.try_get(2)?, last_error: r.try_get(3)?, updated_ms: r.try_get(4)? }))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::query("reading deliveries"))
        })
    }

    /// Number of `tenant`'s alerts not yet acknowledged.
    pub async fn unacknowledged_alerts(&self, tenant: &str) -> Result<i64, StoreError> {
        with_pool!(self, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM alerts WHERE tenant = $1 AND acknowledged_ms IS NULL")
            .bind(tenant)
            .fetch_one(pool)
            .await
            .map_err(StoreError::query("counting alerts")))
    }

    /// Acknowledges one of `tenant`'s alerts (by id) or, with `None`, every unacknowledged one
    /// of the tenant. Returns how many changed; acknowledging twice changes nothing the second
    /// time, and an id of another tenant's alert changes nothing.
    pub async fn acknowledge_alerts(
        &self,
        tenant: &str,
        id: Option<&str>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let q = match id {
                Some(id) => sqlx::query("UPDATE alerts SET acknowledged_ms = $1 WHERE tenant = $2 AND acknowledged_ms IS NULL AND id = $3").bind(now_ms).bind(tenant.to_owned()).bind(id.to_owned()),
                None => sqlx::query("UPDATE alerts SET acknowledged_ms = $1 WHERE tenant = $2 AND acknowledged_ms IS NULL").bind(now_ms).bind(tenant.to_owned()),
            };
            q.execute(pool).await.map(|r| r.rows_affected()).map_err(StoreError::query("acknowledging alerts"))
        })
    }

    /// Whether `tenant` has an alert with this id.
    pub async fn alert_exists(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM alerts WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_one(pool)
            .await
            .map(|n| n > 0)
            .map_err(StoreError::query("reading alerts")))
    }
}
