//! Numeric arguments of the public API, checked the same way everywhere: a
//! bool is refused (`True` would read as 1 second or 1 retry), and the range
//! errors name the argument and the bound, before anything is sent.
//!
//! The `from_py_with` extractors (`named::*`) check the type; the range
//! checks that follow them in each function check the value.

use std::time::Duration;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBool;

/// The longest timeout accepted, about 31 years: longer ones overflow the
/// clock arithmetic (and mean "never", which `None` says where allowed).
pub const MAX_SECONDS: f64 = 1e9;

fn not_bool(obj: &Bound<'_, PyAny>, name: &str, what: &str) -> PyResult<()> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be {what}, not bool"
        )));
    }
    Ok(())
}

/// A real number (int or float, not bool).
pub fn real(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    not_bool(obj, name, "a number")?;
    obj.extract::<f64>().map_err(|_| {
        PyTypeError::new_err(format!("{name} must be a number, not {}", type_name(obj)))
    })
}

/// An int (not bool); one beyond 64 bits saturates, so the range check that
/// follows reports it as too large (or negative).
pub fn int(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    not_bool(obj, name, "an int")?;
    match obj.extract::<i64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
            Ok(if obj.lt(0)? { i64::MIN } else { i64::MAX })
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            type_name(obj)
        ))),
    }
}

/// `from_py_with` extractors, one per argument name (pyo3 does not say which
/// argument a `from_py_with` error is about, so each one says it itself).
pub mod named {
    use pyo3::prelude::*;

    macro_rules! extractors {
        ($check:ident -> $t:ty: $($name:ident),*) => {$(
            pub fn $name(obj: &Bound<'_, PyAny>) -> PyResult<$t> {
                super::$check(obj, stringify!($name))
            }
        )*};
    }
    macro_rules! optional {
        ($check:ident -> $t:ty: $($fn_name:ident = $name:ident),*) => {$(
            pub fn $fn_name(obj: &Bound<'_, PyAny>) -> PyResult<Option<$t>> {
                if obj.is_none() {
                    return Ok(None);
                }
                super::$check(obj, stringify!($name)).map(Some)
            }
        )*};
    }
    extractors!(real -> f64: connect_timeout, read_timeout, pool_idle_timeout);
    extractors!(int -> i64: max_retries, http2_max_streams, max_event_size, max_size);
    optional!(real -> f64: opt_timeout = timeout, opt_read_timeout = read_timeout, opt_ping = ping);
    optional!(int -> i64: opt_retry = retry);
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// A timeout: positive, finite and at most [`MAX_SECONDS`].
pub fn seconds(name: &str, v: f64) -> PyResult<Duration> {
    if !(v.is_finite() && v > 0.0 && v <= MAX_SECONDS) {
        return Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds (at most {MAX_SECONDS:e}), got {v}"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

/// A count within `min..=max`, as the type it is stored in.
pub fn count<T: TryFrom<i64>>(name: &str, v: i64, min: i64, max: i64) -> PyResult<T> {
    if v < min || v > max {
        return Err(PyValueError::new_err(format!(
            "{name} must be an int from {min} to {max}, got {v}"
        )));
    }
    T::try_from(v).map_err(|_| PyValueError::new_err(format!("{name} is out of range: {v}")))
}

/// The largest size limit accepted (4 GiB): a limit is there to bound memory.
pub const MAX_SIZE: i64 = 1 << 32;

/// A size limit in bytes: from 1 to [`MAX_SIZE`].
pub fn size(name: &str, v: i64) -> PyResult<usize> {
    count(
        name,
        v,
        1,
        MAX_SIZE.min(i64::try_from(usize::MAX).unwrap_or(i64::MAX)),
    )
}
