//! What users declare by hand: named accounts per service, and recurring subscriptions charged
//! to them.
//!
//! Invariants: account names are unique per tenant and service; every call reads or writes one
//! tenant's accounts and subscriptions.

use sqlx::Row;

use crate::{Store, StoreError, now_ms, with_pool};

/// A named account of a service ("copilot" / "Work").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub service: String,
    pub name: String,
    pub monthly_limit_micros: Option<i64>,
    pub note: Option<String>,
}

/// A recurring cost, charged at the start of every period from `starts_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub service: String,
    pub account: String,
    pub cost_micros: i64,
    /// `day`, `week`, `month` or `year`.
    pub period: String,
    pub starts_ms: i64,
    pub ends_ms: Option<i64>,
    /// IANA zone whose calendar the periods follow.
    pub tz: String,
    pub note: Option<String>,
}

impl Store {
    /// Creates an account of `tenant` or updates its limit and note.
    pub async fn upsert_account(&self, tenant: &str, account: &Account) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO accounts (service, name, monthly_limit_micros, note, created_ms, tenant) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (tenant, service, name) DO UPDATE SET \
                 monthly_limit_micros = COALESCE(excluded.monthly_limit_micros, accounts.monthly_limit_micros), \
                 note = COALESCE(excluded.note, accounts.note)",
            )
            .bind(&account.service)
            .bind(&account.name)
            .bind(account.monthly_limit_micros)
            .bind(&account.note)
            .bind(now_ms())
            .bind(tenant)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::query("saving an account"))
        })
    }

    /// Every account of `tenant`, by service then name.
    pub async fn accounts(&self, tenant: &str) -> Result<Vec<Account>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT service, name, monthly_limit_micros, note FROM accounts WHERE tenant = $1 ORDER BY service, name")
                .bind(tenant)
                .fetch_all(pool)
                .await
                .map_err(StoreError::query("reading accounts"))?;
            rows.iter()
                .map(|r| Ok(Account { service: r.try_get(0)?, name: r.try_get(1)?, monthly_limit_micros: r.try_get(2)?, note: r.try_get(3)? }))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("reading accounts"))
        })
    }

    /// Adds a subscription of `tenant`.
    pub async fn add_subscription(
        &self,
        tenant: &str,
        sub: &Subscription,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO subscriptions (id, service, account, cost_micros, period, starts_ms, ends_ms, tz, note, created_ms, tenant) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&sub.id)
            .bind(&sub.service)
            .bind(&sub.account)
            .bind(sub.cost_micros)
            .bind(&sub.period)
            .bind(sub.starts_ms)
            .bind(sub.ends_ms)
            .bind(&sub.tz)
            .bind(&sub.note)
            .bind(now_ms())
            .bind(tenant)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::query("saving a subscription"))
        })
    }

    /// Every subscription of `tenant`, by service, account and id.
    pub async fn subscriptions(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, service, account, cost_micros, period, starts_ms, ends_ms, tz, note FROM subscriptions WHERE tenant = $1 ORDER BY service, account, id",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await
            .map_err(StoreError::query("reading subscriptions"))?;
            rows.iter()
                .map(|r| {
                    Ok(Subscription {
                        id: r.try_get(0)?,
                        service: r.try_get(1)?,
                        account: r.try_get(2)?,
                        cost_micros: r.try_get(3)?,
                        period: r.try_get(4)?,
                        starts_ms: r.try_get(5)?,
                        ends_ms: r.try_get(6)?,
                        tz: r.try_get(7)?,
                        note: r.try_get(8)?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("reading subscriptions"))
        })
    }
}
