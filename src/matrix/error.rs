//! Why a matrix run stopped.

use crate::engines;
use crate::hammer;
use crate::methods::script::ScriptError;

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error(transparent)]
    Db(#[from] engines::DbError),
    #[error(transparent)]
    Hammer(#[from] hammer::HammerError),
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error("could not start a server: {0}")]
    Serve(#[from] std::io::Error),
    #[error("the schedules could not be explored: {0}")]
    Schedules(String),
}
