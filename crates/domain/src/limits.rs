//! Every bound of the system in one place, units last.

/// The largest amount one operation may carry: 1,000,000.00 yuan, in fen.
pub const AMOUNT_PER_OPERATION_FEN_MAX: u64 = 100_000_000;

/// The largest balance the ledger will hold in one bucket: 10^13 yuan (10^15 fen), far above
/// any real account, so sums can be checked without overflow anywhere (and it fits the `i64`
/// fen of the binary form).
pub const MONEY_STORED_FEN_MAX: u64 = 1_000_000_000_000_000;

/// Request bodies above this size are refused (`payload_too_large`).
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// Identifiers are 1..=64 characters.
pub const ID_CHARS_MAX: usize = 64;
/// Free text (names, reasons) is at most this many characters.
pub const TEXT_CHARS_MAX: usize = 256;
/// `occurred_at` may lie at most this far after the ledger clock.
pub const OCCURRED_AHEAD_MICROS_MAX: i64 = 5 * 60 * 1_000_000;
/// `occurred_at` may lie at most this far before the ledger clock.
pub const OCCURRED_BEHIND_MICROS_MAX: i64 = 30 * 24 * 3600 * 1_000_000;
/// Binding priorities lie in 1..=1000.
pub const PRIORITY_MAX: u32 = 1000;
/// A hold lasts at most this long before it expires (rule sets may choose less).
pub const HOLD_TIMEOUT_MINUTES_MAX: u32 = 7 * 24 * 60;
/// Rule-set versions are below this bound.
pub const RULE_VERSION_MAX: u64 = 1 << 48;
/// Commands the writer decides and commits in one group commit.
pub const BATCH_COMMANDS_MAX: usize = 1024;
/// Commands waiting for the writer; senders wait when it is full.
pub const QUEUE_COMMANDS_MAX: usize = 8192;
/// Events per page of `GET /v1/events`.
pub const EVENTS_PAGE_MAX: usize = 1000;
/// Events a filtered page of `GET /v1/events` looks at before it answers, whatever it found
/// (its `next_after_seq` says where to go on).
pub const EVENTS_SCAN_MAX: usize = 100_000;
/// Settlements per page of `GET /v1/settlements`.
pub const SETTLEMENTS_PAGE_MAX: usize = 1000;
/// Settlements a page of `GET /v1/settlements` filtered by institution looks at before it
/// answers, whatever it found (its `next_after_seq` says where to go on).
pub const SETTLEMENTS_SCAN_MAX: usize = 100_000;
/// Entries of an account's balance history one read answers: the latest ones.
pub const HISTORY_ENTRIES_MAX: usize = 1000;
/// Calendar years the ledger accepts (premiums, year-end, rule tables).
pub const YEAR_MIN: i32 = 1990;
pub const YEAR_MAX: i32 = 2200;
/// Events between two snapshots of the projections, by default.
pub const SNAPSHOT_EVERY_EVENTS: u64 = 100_000;
/// A request's headers must arrive within this many seconds of the connection opening or of
/// the previous answer, by default (api.md §1 "Connections").
pub const HEADER_TIMEOUT_SECS: u64 = 10;
/// A request's head (request line and headers) above this many bytes is refused (431
/// `headers_too_large`). Above the longest URI hyper takes (64 KiB, else 414), so that a URI
/// too long is named as such.
pub const HEAD_BYTES_MAX: usize = 128 * 1024;
/// A connection with no byte moving either way for this many seconds is closed, by default.
pub const IDLE_TIMEOUT_SECS: u64 = 60;
/// Connections open at once, by default (the open-file limit may allow fewer).
pub const CONNECTIONS_MAX: u64 = 4096;
/// A batch (`POST /v1/batch`) body above this size is refused (`payload_too_large`).
pub const BATCH_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Requests in one batch.
pub const BATCH_REQUESTS_MAX: usize = 8192;
/// Batch bodies being read or decided at once, in MiB: each is held in memory several times
/// over (its bytes, its items, its requests and their answers), so at most this much of them.
pub const BATCH_MIB_IN_FLIGHT_MAX: u32 = 64;
