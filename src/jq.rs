//! `--jq`: a jq program compiled once with jaq, run on each matching record. (Placeholder until the jaq
//! engine lands: every program is refused.)

#[derive(Debug)]
pub struct JqProgram;

impl JqProgram {
    pub fn compile(_program: &str) -> Result<JqProgram, String> {
        Err("--jq is not available in this build".to_owned())
    }

    pub fn run(&self, _record: &serde_json::Value, _out: &mut Vec<u8>) -> Result<(), String> {
        Ok(())
    }
}
