use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    m.add("build_info", format!("profile={profile}"))?;
    Ok(())
}
