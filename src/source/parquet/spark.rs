//! Apache Spark's calendar conventions in Parquet files, so dates and timestamps load as Spark
//! itself reads them.
//!
//! Spark 3.0 moved from the hybrid Julian/Gregorian calendar (`java.util.GregorianCalendar`,
//! Julian before 1582-10-15) to the proleptic Gregorian calendar that Parquet, Arrow and
//! Cassandra use. Files written by Spark 2.x and Hive, or by Spark 3+ in `LEGACY` rebase mode,
//! hold hybrid-calendar day and microsecond counts; when Spark reads them it "rebases" each
//! value from the Julian calendar: the same local date and time of day, counted in the
//! proleptic Gregorian calendar. Which files need it, as Spark decides (`DataSourceUtils`
//! `getRebaseSpec`): a footer with `org.apache.spark.version` below 3.0.0 (dates and INT64
//! timestamps) or below 3.1.0 (INT96 timestamps), or with the key
//! `org.apache.spark.legacyDateTime` (dates and INT64 timestamps) or
//! `org.apache.spark.legacyINT96` (INT96 timestamps). Timestamps are rebased in the writer's
//! time zone, `org.apache.spark.timeZone` (Spark reads a file without it in its own session
//! zone; cassbulk takes UTC and says so). Files without Spark's version key (pyarrow, Hive 3,
//! DuckDB, ...) are proleptic Gregorian already, as Spark 4's `CORRECTED` default reads them.
//!
//! The rebase, as Spark documents it: a Julian date before the switch becomes the Gregorian
//! date with the same year and month, plus its day of month minus one, so the Julian-only
//! 1500-02-29 becomes 1500-03-01. Implemented here from the calendars' arithmetic, exact for
//! every day count; timestamps keep their time of day. Time zones: UTC and fixed offsets
//! (`+05:30`, `GMT-08:00`); a named zone's historical offsets are refused, naming the file.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, LargeListArray, ListArray, MapArray, RecordBatch,
    StructArray,
};
use arrow::datatypes::{
    DataType, Date32Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::error::ArrowError;
use parquet::basic::{ConvertedType, LogicalType, Type as PhysicalType};
use parquet::file::metadata::ParquetMetaData;

use crate::model::value::days_from_civil;

/// 1582-10-15, the hybrid calendar's first Gregorian day, in days since 1970-01-01.
pub const SWITCH_DAY: i32 = -141_427;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// The hybrid calendar's switch as an instant (`GregorianCalendar`'s cutover is in UTC).
const SWITCH_MICROS: i64 = SWITCH_DAY as i64 * MICROS_PER_DAY;
/// The Julian day number of 1970-01-01.
const EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// The footer keys Spark writes.
const VERSION_KEY: &str = "org.apache.spark.version";
const LEGACY_DATETIME_KEY: &str = "org.apache.spark.legacyDateTime";
const LEGACY_INT96_KEY: &str = "org.apache.spark.legacyINT96";
const TIME_ZONE_KEY: &str = "org.apache.spark.timeZone";

/// The Julian calendar date (astronomical year, month, day) of a day count since 1970-01-01.
fn julian_from_days(days: i64) -> (i64, u32, u32) {
    // Richards' algorithm from the Julian day number, with floor division throughout.
    let c = days + EPOCH_JULIAN_DAY + 32_082;
    let d = (4 * c + 3).div_euclid(1461);
    let e = c - (1461 * d).div_euclid(4);
    let m = (5 * e + 2).div_euclid(153);
    let day = e - (153 * m + 2).div_euclid(5) + 1;
    let month = m + 3 - 12 * (m / 10);
    let year = d - 4800 + m / 10;
    (year, month as u32, day as u32)
}

/// The proleptic Gregorian day count of a day count in the hybrid calendar, as Spark rebases it.
fn rebased_days(days: i64) -> i64 {
    if days >= i64::from(SWITCH_DAY) {
        return days;
    }
    let (year, month, day) = julian_from_days(days);
    days_from_civil(year, month, 1) + i64::from(day) - 1
}

/// A hybrid-calendar day count (Spark's legacy dates) as a proleptic Gregorian one.
pub fn julian_to_gregorian_days(days: i32) -> i32 {
    i32::try_from(rebased_days(i64::from(days))).unwrap_or(days)
}

/// Hybrid-calendar microseconds since the epoch (Spark's legacy timestamps, written in a zone
/// `offset_seconds` east of UTC) as proleptic Gregorian ones: the same local date and time.
pub fn julian_to_gregorian_micros(micros: i64, offset_seconds: i32) -> i64 {
    if micros >= SWITCH_MICROS {
        return micros;
    }
    let offset = i64::from(offset_seconds) * 1_000_000;
    let Some(local) = micros.checked_add(offset) else {
        return micros;
    };
    let (days, time) = (
        local.div_euclid(MICROS_PER_DAY),
        local.rem_euclid(MICROS_PER_DAY),
    );
    rebased_days(days)
        .checked_mul(MICROS_PER_DAY)
        .and_then(|t| t.checked_add(time))
        .and_then(|t| t.checked_sub(offset))
        .unwrap_or(micros)
}

/// How one file's dates and timestamps must be rebased to read as Spark reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rebase {
    /// Dates are hybrid-calendar day counts.
    pub dates: bool,
    /// Timestamps are hybrid-calendar counts, local to a zone this many seconds east of UTC.
    pub timestamps: Option<i32>,
}

impl Rebase {
    pub fn is_none(&self) -> bool {
        !self.dates && self.timestamps.is_none()
    }
}

/// What a file's footer says about its calendar.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Calendar {
    pub rebase: Rebase,
    /// The Spark version that wrote the file, when one did.
    pub spark_version: Option<String>,
    /// Why timestamps cannot be rebased (a zone with historical offsets), if they need it.
    pub refused_zone: Option<String>,
    /// The file needs a timestamp rebase but names no zone: UTC was taken.
    pub zone_assumed: bool,
}

/// Why a file's calendar cannot be read as Spark reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarError {
    /// INT96 and INT64 timestamps in one file with different rebase modes.
    MixedTimestamps,
}

/// Reads a file's calendar from its footer, as Spark's reader decides it.
pub fn calendar(metadata: &ParquetMetaData) -> Result<Calendar, CalendarError> {
    let file = metadata.file_metadata();
    let lookup = |key: &str| {
        file.key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == key))
            .map(|k| k.value.clone().unwrap_or_default())
    };
    let Some(version) = lookup(VERSION_KEY) else {
        return Ok(Calendar::default());
    };
    // Spark compares version strings as strings; so does this.
    let dates = version.as_str() < "3.0.0" || lookup(LEGACY_DATETIME_KEY).is_some();
    let int96 = version.as_str() < "3.1.0" || lookup(LEGACY_INT96_KEY).is_some();
    let (mut has_int96, mut has_int64) = (false, false);
    for column in metadata.file_metadata().schema_descr().columns() {
        match column.physical_type() {
            PhysicalType::INT96 => has_int96 = true,
            PhysicalType::INT64
                if matches!(
                    column.logical_type_ref(),
                    Some(LogicalType::Timestamp { .. })
                ) || matches!(
                    column.converted_type(),
                    ConvertedType::TIMESTAMP_MILLIS | ConvertedType::TIMESTAMP_MICROS
                ) =>
            {
                has_int64 = true
            }
            _ => {}
        }
    }
    let timestamps = match (has_int96, has_int64) {
        (true, true) if int96 != dates => return Err(CalendarError::MixedTimestamps),
        (true, _) => int96,
        (false, true) => dates,
        (false, false) => false,
    };
    let mut calendar = Calendar {
        rebase: Rebase {
            dates,
            timestamps: None,
        },
        spark_version: Some(version),
        refused_zone: None,
        zone_assumed: false,
    };
    if timestamps {
        match lookup(TIME_ZONE_KEY) {
            None => {
                calendar.zone_assumed = true;
                calendar.rebase.timestamps = Some(0);
            }
            Some(zone) => match fixed_offset(&zone) {
                Some(offset) => calendar.rebase.timestamps = Some(offset),
                None => calendar.refused_zone = Some(zone),
            },
        }
    }
    Ok(calendar)
}

/// Seconds east of UTC of a zone that is UTC or a fixed offset (`UTC`, `Z`, `+05:30`,
/// `GMT-08:00`, `UTC+1`, `Etc/UTC`), else `None`.
fn fixed_offset(zone: &str) -> Option<i32> {
    let zone = zone.trim();
    let rest = [
        "Etc/UTC", "Etc/GMT", "Etc/UCT", "UTC", "GMT", "UCT", "UT", "Z",
    ]
    .iter()
    .find_map(|p| zone.strip_prefix(p))
    .unwrap_or(zone);
    if rest.is_empty() {
        return Some(0);
    }
    let (sign, hm) = match rest.as_bytes()[0] {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match hm.split_once(':') {
        Some((h, m)) => (h, m),
        None if hm.len() == 4 => hm.split_at(2),
        None => (hm, "0"),
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 18 && m < 60 && !hm.is_empty()).then_some(sign * (h * 3600 + m * 60))
}

/// Rebases a decoded batch's dates and timestamps (nested ones included); columns with no
/// value before the switch come back as they were.
pub fn rebase_batch(batch: RecordBatch, rebase: Rebase) -> Result<RecordBatch, ArrowError> {
    if rebase.is_none() {
        return Ok(batch);
    }
    let columns: Vec<Option<ArrayRef>> = batch
        .columns()
        .iter()
        .map(|c| rebase_array(c, rebase))
        .collect();
    if columns.iter().all(Option::is_none) {
        return Ok(batch);
    }
    let columns = columns
        .into_iter()
        .zip(batch.columns())
        .map(|(new, old)| new.unwrap_or_else(|| old.clone()))
        .collect();
    RecordBatch::try_new(batch.schema(), columns)
}

/// The array rebased, or `None` when nothing in it changes.
fn rebase_array(array: &ArrayRef, rebase: Rebase) -> Option<ArrayRef> {
    macro_rules! timestamps {
        ($t:ty, $to_micros:expr, $from_micros:expr) => {{
            let offset = rebase.timestamps?;
            let a = array.as_primitive::<$t>();
            a.values()
                .iter()
                .any(|&v| $to_micros(v) < SWITCH_MICROS)
                .then(|| {
                    // `unary` gives the unit's type without its zone: keep the column's own.
                    Arc::new(
                        a.unary::<_, $t>(|v| {
                            $from_micros(v, julian_to_gregorian_micros($to_micros(v), offset))
                        })
                        .with_data_type(array.data_type().clone()),
                    ) as ArrayRef
                })
        }};
    }
    // Seconds and milliseconds scale to microseconds and back exactly (the rebase moves whole
    // days); nanoseconds keep their sub-microsecond part.
    let scaled = |per: i64| {
        move |v: i64| {
            v.checked_mul(per)
                .unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
        }
    };
    let unscaled = |per: i64| {
        move |v: i64, micros: i64| {
            if micros == v.saturating_mul(per) {
                v
            } else {
                micros / per
            }
        }
    };
    match array.data_type() {
        DataType::Date32 if rebase.dates => {
            let a = array.as_primitive::<Date32Type>();
            a.values()
                .iter()
                .any(|&d| d < SWITCH_DAY)
                .then(|| Arc::new(a.unary::<_, Date32Type>(julian_to_gregorian_days)) as ArrayRef)
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            timestamps!(TimestampSecondType, scaled(1_000_000), unscaled(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            timestamps!(TimestampMillisecondType, scaled(1_000), unscaled(1_000))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            timestamps!(TimestampMicrosecondType, |v| v, |_, micros| micros)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => timestamps!(
            TimestampNanosecondType,
            |v: i64| v.div_euclid(1_000),
            |v: i64, micros: i64| micros
                .saturating_mul(1_000)
                .saturating_add(v.rem_euclid(1_000))
        ),
        DataType::List(field) => {
            let a = array.as_list::<i32>();
            let values = rebase_array(a.values(), rebase)?;
            Some(Arc::new(ListArray::new(
                field.clone(),
                a.offsets().clone(),
                values,
                a.nulls().cloned(),
            )))
        }
        DataType::LargeList(field) => {
            let a = array.as_list::<i64>();
            let values = rebase_array(a.values(), rebase)?;
            Some(Arc::new(LargeListArray::new(
                field.clone(),
                a.offsets().clone(),
                values,
                a.nulls().cloned(),
            )))
        }
        DataType::FixedSizeList(field, size) => {
            let a = array.as_fixed_size_list();
            let values = rebase_array(a.values(), rebase)?;
            Some(Arc::new(FixedSizeListArray::new(
                field.clone(),
                *size,
                values,
                a.nulls().cloned(),
            )))
        }
        DataType::Struct(fields) => {
            let a = array.as_struct();
            let columns: Vec<Option<ArrayRef>> = a
                .columns()
                .iter()
                .map(|c| rebase_array(c, rebase))
                .collect();
            if columns.iter().all(Option::is_none) {
                return None;
            }
            let columns = columns
                .into_iter()
                .zip(a.columns())
                .map(|(new, old)| new.unwrap_or_else(|| old.clone()))
                .collect();
            Some(Arc::new(StructArray::new(
                fields.clone(),
                columns,
                a.nulls().cloned(),
            )))
        }
        DataType::Map(field, sorted) => {
            let a = array.as_map();
            let entries: ArrayRef = Arc::new(a.entries().clone());
            let entries = rebase_array(&entries, rebase)?;
            Some(Arc::new(MapArray::new(
                field.clone(),
                a.offsets().clone(),
                entries.as_struct().clone(),
                a.nulls().cloned(),
                *sorted,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::value::civil_from_days;

    /// A day count as `YYYY-MM-DD` (proleptic Gregorian), for messages.
    fn show_day(days: i64) -> String {
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}")
    }

    fn day(y: i64, m: u32, d: u32) -> i32 {
        days_from_civil(y, m, d) as i32
    }

    /// The hybrid day count Spark writes for a local date in LEGACY mode: that date's Julian
    /// day before the switch, its Gregorian day after.
    fn hybrid_day(y: i64, m: u32, d: u32) -> i32 {
        if (y, m, d) >= (1582, 10, 15) {
            return day(y, m, d);
        }
        // Inverse of julian_from_days, by search around the Gregorian day (at most 3 days
        // apart per century).
        let g = i64::from(day(y, m, d));
        (g - 20..g + 20)
            .find(|&t| julian_from_days(t) == (y, m, d))
            .unwrap() as i32
    }

    #[test]
    fn the_julian_calendar_is_right_at_known_dates() {
        // 1582-10-04 (Julian) was followed by 1582-10-15 (Gregorian): consecutive day counts.
        assert_eq!(julian_from_days(i64::from(SWITCH_DAY) - 1), (1582, 10, 4));
        assert_eq!(show_day(i64::from(SWITCH_DAY)), "1582-10-15");
        // Julian 0001-01-01 is Gregorian 0000-12-30; 1000-01-01 Julian is 1000-01-06 Gregorian.
        assert_eq!(julian_from_days(i64::from(day(0, 12, 30))), (1, 1, 1));
        assert_eq!(julian_from_days(i64::from(day(1000, 1, 6))), (1000, 1, 1));
        // Julian 1500 is a leap year; Gregorian 1500 is not.
        assert_eq!(julian_from_days(i64::from(day(1500, 3, 10))), (1500, 2, 29));
    }

    #[test]
    fn legacy_dates_rebase_to_the_same_local_date_golden() {
        // (local date, hybrid day count Spark 4.3 writes in LEGACY mode, proleptic day count).
        let golden = [
            ((1, 1, 1), -719_164, -719_162),
            ((1000, 1, 1), -354_280, -354_285),
            ((1000, 6, 15), -354_114, -354_120),
            ((1500, 2, 28), -171_597, -171_606),
            ((1582, 10, 4), -141_428, -141_438),
            ((1582, 10, 15), -141_427, -141_427),
            ((1677, 9, 21), -106_752, -106_752),
            ((1970, 1, 1), 0, 0),
            ((9999, 12, 31), 2_932_896, 2_932_896),
        ];
        for ((y, m, d), hybrid, proleptic) in golden {
            assert_eq!(hybrid_day(y, m, d), hybrid, "{y}-{m}-{d}");
            assert_eq!(day(y, m, d), proleptic, "{y}-{m}-{d}");
            assert_eq!(julian_to_gregorian_days(hybrid), proleptic, "{y}-{m}-{d}");
        }
        // The Julian-only 1500-02-29 becomes 1500-03-01, as Spark documents.
        assert_eq!(
            julian_to_gregorian_days(hybrid_day(1500, 2, 29)),
            day(1500, 3, 1)
        );
    }

    #[test]
    fn legacy_timestamps_keep_their_local_time_of_day_in_their_zone() {
        let micros = |days: i32, seconds: i64| i64::from(days) * MICROS_PER_DAY + seconds;
        // 1582-10-04 12:00:00 UTC, written in LEGACY mode, reads as 1582-10-04 12:00:00.
        let hybrid = micros(hybrid_day(1582, 10, 4), 43_200_000_000);
        assert_eq!(
            julian_to_gregorian_micros(hybrid, 0),
            micros(day(1582, 10, 4), 43_200_000_000)
        );
        // 0001-01-01 00:00:00.000001 and negative times of day floor correctly.
        let hybrid = micros(hybrid_day(1, 1, 1), 1);
        assert_eq!(
            julian_to_gregorian_micros(hybrid, 0),
            micros(day(1, 1, 1), 1)
        );
        // In +05:30, local 1000-01-01 03:00 is the UTC instant 999-12-31 21:30 (hybrid).
        let offset = 5 * 3600 + 1800;
        let local = micros(hybrid_day(1000, 1, 1), 3 * 3_600_000_000);
        let hybrid = local - i64::from(offset) * 1_000_000;
        assert_eq!(
            julian_to_gregorian_micros(hybrid, offset),
            micros(day(1000, 1, 1), 3 * 3_600_000_000) - i64::from(offset) * 1_000_000
        );
        // After the switch nothing moves; the extremes do not overflow.
        assert_eq!(julian_to_gregorian_micros(0, 0), 0);
        assert_eq!(julian_to_gregorian_micros(i64::MAX, 0), i64::MAX);
        let _ = julian_to_gregorian_micros(i64::MIN, 3600);
        let _ = julian_to_gregorian_micros(i64::MIN, -3600);
        assert_eq!(
            julian_to_gregorian_days(i32::MIN),
            julian_to_gregorian_days(i32::MIN)
        );
    }

    #[test]
    fn fixed_offsets_are_read_and_named_zones_are_not() {
        assert_eq!(fixed_offset("UTC"), Some(0));
        assert_eq!(fixed_offset("Etc/UTC"), Some(0));
        assert_eq!(fixed_offset("Z"), Some(0));
        assert_eq!(fixed_offset("+05:30"), Some(19_800));
        assert_eq!(fixed_offset("GMT-08:00"), Some(-28_800));
        assert_eq!(fixed_offset("UTC+1"), Some(3600));
        assert_eq!(fixed_offset("-0330"), Some(-12_600));
        assert_eq!(fixed_offset("America/Los_Angeles"), None);
        assert_eq!(fixed_offset("Europe/UTCity"), None);
        assert_eq!(fixed_offset("+"), None);
    }
}
