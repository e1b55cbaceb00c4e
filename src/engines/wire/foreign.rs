//! A user's statements on the wire: sent prepared (one statement per execution), the
//! connection kept from anyone else afterwards, and the database's report of where the
//! transaction is taken right around each of them (see [`Wire::send_foreign`]); the harness's
//! own questions (`inspect_*`) go without the observer.

use sqlx::database::HasStatementCache;
use sqlx::{
    AssertSqlSafe, Column, ColumnIndex, Database, Decode, Either, Encode, Executor, IntoArguments,
    Row, SqlSafeStr, Statement as _, Type,
};

use super::{Link, ReportBy, Reported, ServerIdQuery, Tx, Wire};
use crate::methods::TxReport;
use crate::model::statement::{Answer, Effect, Fetch, Statement};
use crate::model::{DbFailure, ErrorClass};

impl<L: Link> Wire<L>
where
    L::Db: Database + HasStatementCache,
    for<'c> &'c mut <L::Db as Database>::Connection: Executor<'c, Database = L::Db>,
    <L::Db as Database>::Arguments: IntoArguments<L::Db>,
    for<'q> Option<i64>: Encode<'q, L::Db> + Type<L::Db>,
    for<'r> Option<i64>: Decode<'r, L::Db>,
    for<'r> Option<i32>: Decode<'r, L::Db>,
    for<'r> String: Decode<'r, L::Db>,
    i64: Type<L::Db>,
    i32: Type<L::Db>,
    String: Type<L::Db>,
    usize: ColumnIndex<<L::Db as Database>::Row>,
{
    /// This connection serves a user's script, whatever it sends: it will not serve anyone
    /// else (its link resets or closes it when the session ends).
    pub fn serves_foreign(&mut self) {
        self.ran_foreign = true;
    }

    /// Learns where the transaction is after a user's statement by sending `query` (see
    /// [`ReportBy::Query`]).
    pub fn reporting_by(mut self, query: &'static str) -> Wire<L> {
        self.report = ReportBy::Query(query);
        self
    }

    /// Sends a statement of a user's script: as [`Wire::send`] (prepared, see
    /// `sending_foreign`), and the connection will not serve anyone else. With its answer,
    /// whether the statement left the transaction as counter had it: the database's report
    /// taken right before and right after the statement itself (inside the transaction the
    /// wire wraps an autocommit write in, if it does), so counter's own `BEGIN` and `COMMIT`
    /// are never taken for the script's.
    pub async fn send_foreign(
        &mut self,
        statement: Statement,
    ) -> Result<(Answer, TxReport), DbFailure> {
        self.ran_foreign = true;
        let wrap = self.tx == Tx::Idle && self.wraps(statement.effect);
        if wrap {
            self.exchange(&Statement::control(self.wrap_begin, Effect::Local))
                .await?;
            self.tx = Tx::Wrapped;
        }
        let _ = self.link.reported();
        self.sending_foreign = true;
        let result = self.exchange(&statement).await;
        self.sending_foreign = false;
        let report = match &result {
            Ok(_) => self.report().await,
            Err(_) => TxReport::Unknown,
        };
        if wrap {
            let committed = self.finish_wrapped().await;
            let answer = result?;
            return committed.map(|()| (answer, report));
        }
        Ok((result?, report))
    }

    /// Whether the transaction is where counter left it (open for the method's transaction
    /// and for a wrapped statement, closed otherwise), as the database says now.
    async fn report(&mut self) -> TxReport {
        let reported = match self.report {
            ReportBy::Link => self.link.reported(),
            ReportBy::Query(sql) => match self.inspect_integer(sql).await {
                Ok(Some(open)) => Some(Reported {
                    open: open != 0,
                    control: Vec::new(),
                }),
                _ => None,
            },
        };
        let Some(reported) = reported else {
            return TxReport::Unknown;
        };
        let expected_open = self.tx != Tx::Idle;
        if reported.control.is_empty() && reported.open == expected_open {
            return TxReport::Kept;
        }
        TxReport::Changed {
            open: reported.open,
            control: reported.control,
        }
    }

    /// One integer a statement of the harness answers (sent without the observer).
    pub async fn inspect_integer(&mut self, sql: &'static str) -> Result<Option<i64>, DbFailure> {
        let answer = self
            .execute(&Statement::fixed(sql, &[], Effect::Local, Fetch::Rows))
            .await;
        let answer = answer.map_err(|err| {
            self.link.failed(&err);
            self.errors.classify(&err)
        })?;
        Ok(answer.scalar())
    }

    /// The first column of the first row a statement of the harness answers, as text (sent
    /// without the observer).
    pub async fn inspect_text(&mut self, sql: &'static str) -> Result<Option<String>, DbFailure> {
        let conn = self.link.connection();
        let rows = sqlx::raw_sql(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await;
        let rows = rows.map_err(|err| {
            self.link.failed(&err);
            self.errors.classify(&err)
        })?;
        Ok(rows
            .first()
            .and_then(|row| row.try_get::<String, _>(0).ok()))
    }

    /// The connection's id on the server (PostgreSQL's backend pid, MariaDB's connection id;
    /// None on SQLite), asked once.
    pub async fn server_id(&mut self) -> Result<Option<i64>, DbFailure> {
        if self.server_id.is_some() {
            return Ok(self.server_id);
        }
        let ServerIdQuery::Ask(sql) = self.id_query else {
            return Ok(None);
        };
        let asked = Statement::fixed(sql, &[], Effect::Local, Fetch::Rows);
        self.server_id = self.exchange(&asked).await?.scalar();
        Ok(self.server_id)
    }

    /// Prepares a user's statement with `params` BIGINT parameters without running it; its
    /// columns' names. A statement whose own placeholders the database counts differently (a
    /// `$1` or `?` typed by the user) is the user's mistake: refused, and the connection stays
    /// usable.
    pub async fn prepare(&mut self, sql: &str, params: usize) -> Result<Vec<String>, DbFailure> {
        let types = vec![<i64 as Type<L::Db>>::type_info(); params];
        let text = AssertSqlSafe(sql.to_string()).into_sql_str();
        let prepared = self.link.connection().prepare_with(text, &types).await;
        let statement = prepared.map_err(|err| {
            self.link.failed(&err);
            self.errors.classify(&err)
        })?;
        let declared = statement.parameters().map(|p| match p {
            Either::Left(types) => types.len(),
            Either::Right(count) => count,
        });
        if let Some(declared) = declared.filter(|&declared| declared != params) {
            return Err(DbFailure::ours(
                ErrorClass::Internal,
                format!(
                    "the statement has {declared} parameters and counter binds {params}: write \
                     values as :name variables"
                ),
            ));
        }
        Ok(statement
            .columns()
            .iter()
            .map(|column| column.name().to_string())
            .collect())
    }
}
