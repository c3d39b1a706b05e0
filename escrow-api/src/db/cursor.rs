//! The follower's cursor: the next block to follow.

use sqlx::Row;

use super::{DbError, Index};

impl Index {
    /// The next block to follow, if any was stored.
    pub async fn cursor(&self) -> Result<Option<i64>, DbError> {
        let row = sqlx::query("SELECT next_block FROM follower_cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("next_block")).transpose()?)
    }

    /// Stores the next block to follow.
    pub async fn set_cursor(&self, next_block: i64) -> Result<(), DbError> {
        let done = sqlx::query("UPDATE follower_cursor SET next_block = $1 WHERE id = 1")
            .bind(next_block)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            sqlx::query("INSERT INTO follower_cursor (id, next_block) VALUES (1, $1)")
                .bind(next_block)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}
