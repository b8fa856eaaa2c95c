//! Typed, checked access to one variable: lookup by accepted names, text attributes, the
//! variable's fill value, and 1-D reads along `time` as exact f64 or integer flags.

use netcdf_reader::{NcAttrValue, NcFile, NcType, NcVariable};

use super::error::GoesNcError;

/// More rows than a day of 1-second data (86,400) by a wide margin; a larger claim is refused
/// before anything is allocated.
pub const MAX_ROWS: u64 = 1_000_000;

/// The first of `names` that the file has.
pub(crate) fn find<'a>(file: &'a NcFile, names: &[&str]) -> Result<&'a NcVariable, GoesNcError> {
    let variables = file.variables().map_err(|e| GoesNcError::Corrupt {
        detail: e.to_string(),
    })?;
    names
        .iter()
        .find_map(|name| variables.iter().find(|v| v.name() == *name))
        .ok_or_else(|| GoesNcError::MissingVariable {
            expected: names.join(" or "),
        })
}

/// A text attribute (netCDF char or a single string), trimmed.
pub(crate) fn text(value: &NcAttrValue) -> Option<String> {
    value.as_string().map(|s| s.trim().to_string())
}

/// A text attribute of `var`, if present and textual.
pub(crate) fn text_attr(var: &NcVariable, name: &str) -> Option<String> {
    var.attribute(name).and_then(|a| text(&a.value))
}

/// The value that marks "no data": the `_FillValue` attribute, else netCDF's default fill for
/// the type (CF: the default applies when the attribute is absent). Compared after widening.
pub(crate) fn fill_value(var: &NcVariable) -> Option<f64> {
    if let Some(fill) = var.attribute("_FillValue").and_then(|a| a.value.as_f64()) {
        return Some(fill);
    }
    Some(match var.dtype() {
        NcType::Byte => -127.0,
        NcType::UByte => 255.0,
        NcType::Short => -32767.0,
        NcType::UShort => 65535.0,
        NcType::Int => -2_147_483_647.0,
        NcType::UInt => 4_294_967_295.0,
        // NC_FILL_FLOAT (9.9692099683868690e+36f), written as the shortest f32 literal.
        NcType::Float => f64::from(9.969_21e36_f32),
        NcType::Double => 9.969_209_968_386_869e36,
        // Integer defaults beyond 2^53 cannot be told apart in f64; flags never get there.
        _ => return None,
    })
}

/// Checks that `var` is 1-D along the time dimension `time_dim` with `rows` entries.
pub(crate) fn check_along_time(
    var: &NcVariable,
    time_dim: &str,
    rows: usize,
) -> Result<(), GoesNcError> {
    let wrong = |detail: String| GoesNcError::WrongShape {
        variable: var.name().to_string(),
        detail,
    };
    match var.dimensions() {
        [dim] if dim.name == time_dim && dim.size == rows as u64 => Ok(()),
        [dim] if dim.name == time_dim => Err(wrong(format!("{} rows, time has {rows}", dim.size))),
        [dim] => Err(wrong(format!(
            "along dimension {:?}, expected {time_dim:?}",
            dim.name
        ))),
        dims => Err(wrong(format!(
            "{} dimensions, expected 1 ({time_dim})",
            dims.len()
        ))),
    }
}

/// The row count of a 1-D variable, refused past [`MAX_ROWS`].
pub(crate) fn rows_1d(var: &NcVariable) -> Result<usize, GoesNcError> {
    let [dim] = var.dimensions() else {
        return Err(GoesNcError::WrongShape {
            variable: var.name().to_string(),
            detail: format!("{} dimensions, expected 1", var.dimensions().len()),
        });
    };
    if dim.size > MAX_ROWS {
        return Err(GoesNcError::TooManyRows {
            variable: var.name().to_string(),
            rows: dim.size,
            limit: MAX_ROWS,
        });
    }
    usize::try_from(dim.size).map_err(|_| GoesNcError::TooManyRows {
        variable: var.name().to_string(),
        rows: dim.size,
        limit: MAX_ROWS,
    })
}

/// A float or double variable as f64; float32 is widened exactly (`f64::from`).
pub(crate) fn read_floats(
    file: &NcFile,
    var: &NcVariable,
    rows: usize,
) -> Result<Vec<f64>, GoesNcError> {
    match var.dtype() {
        NcType::Float => {
            let mut raw = vec![0f32; rows];
            read_into(file, var, &mut raw)?;
            Ok(raw.into_iter().map(f64::from).collect())
        }
        NcType::Double => {
            let mut raw = vec![0f64; rows];
            read_into(file, var, &mut raw)?;
            Ok(raw)
        }
        other => Err(wrong_type(var, "float or double", other)),
    }
}

/// A numeric variable as f64 (integers up to 2^53 exactly), for time and flag variables.
pub(crate) fn read_numbers(
    file: &NcFile,
    var: &NcVariable,
    rows: usize,
) -> Result<Vec<f64>, GoesNcError> {
    match var.dtype() {
        NcType::Float | NcType::Double => read_floats(file, var, rows),
        NcType::Byte
        | NcType::UByte
        | NcType::Short
        | NcType::UShort
        | NcType::Int
        | NcType::UInt
        | NcType::Int64
        | NcType::UInt64 => {
            let values = file
                .read_variable_as_f64(var.name())
                .map_err(|e| read_error(var, &e))?;
            if values.len() != rows {
                return Err(GoesNcError::WrongShape {
                    variable: var.name().to_string(),
                    detail: format!("read {} values, expected {rows}", values.len()),
                });
            }
            Ok(values.iter().copied().collect())
        }
        other => Err(wrong_type(var, "a numeric type", other)),
    }
}

/// Values equal to the fill value, or NaN, become `None`.
pub(crate) fn mask_fill(values: Vec<f64>, fill: Option<f64>) -> Vec<Option<f64>> {
    values
        .into_iter()
        .map(|v| (!v.is_nan() && Some(v) != fill).then_some(v))
        .collect()
}

fn read_into<T: netcdf_reader::NcReadable>(
    file: &NcFile,
    var: &NcVariable,
    dst: &mut [T],
) -> Result<(), GoesNcError> {
    file.read_variable_into(var.name(), dst)
        .map_err(|e| read_error(var, &e))
}

fn read_error(var: &NcVariable, e: &netcdf_reader::Error) -> GoesNcError {
    GoesNcError::Read {
        variable: var.name().to_string(),
        detail: e.to_string(),
    }
}

fn wrong_type(var: &NcVariable, expected: &str, found: &NcType) -> GoesNcError {
    GoesNcError::WrongType {
        variable: var.name().to_string(),
        expected: expected.to_string(),
        found: format!("{found:?}").to_ascii_lowercase(),
    }
}
