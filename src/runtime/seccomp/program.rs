//! A compiled filter as it travels from the daemon to init in the spec, and its installation:
//! init makes one seccomp(2) call and needs no compiler of its own.

use nix::errno::Errno;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One classic-BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction {
    /// The opcode.
    pub code: u16,
    /// Jump offset when the test holds.
    pub jt: u8,
    /// Jump offset when it does not.
    pub jf: u8,
    /// The operand.
    pub k: u32,
}

/// A seccomp filter ready to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompProgram {
    /// seccomp(2) flags (SECCOMP_FILTER_FLAG_LOG, …).
    pub flags: u32,
    /// The program, written as hex: 16 digits an instruction (code, jt, jf, k, big-endian).
    #[serde(serialize_with = "to_hex", deserialize_with = "from_hex")]
    pub instructions: Vec<Instruction>,
}

impl SeccompProgram {
    /// Installs the filter on the calling thread (and, with TSYNC, its siblings). Without
    /// no_new_privs this needs CAP_SYS_ADMIN, so init calls it before it drops capabilities.
    pub fn install(&self) -> Result<(), Errno> {
        let mut filter: Vec<libc::sock_filter> =
            self.instructions.iter().map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
        let len = u16::try_from(filter.len()).map_err(|_| Errno::EINVAL)?;
        let program = libc::sock_fprog { len, filter: filter.as_mut_ptr() };
        // SAFETY: `program` points at `filter`, which outlives the call; the kernel copies it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags as libc::c_ulong,
                &program as *const libc::sock_fprog,
            )
        };
        Errno::result(rc).map(drop)
    }
}

fn to_hex<S: Serializer>(instructions: &[Instruction], serializer: S) -> Result<S::Ok, S::Error> {
    let mut bytes = Vec::with_capacity(instructions.len() * 8);
    for i in instructions {
        bytes.extend_from_slice(&i.code.to_be_bytes());
        bytes.extend_from_slice(&[i.jt, i.jf]);
        bytes.extend_from_slice(&i.k.to_be_bytes());
    }
    serializer.serialize_str(&hex::encode(bytes))
}

fn from_hex<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Instruction>, D::Error> {
    let text = String::deserialize(deserializer)?;
    let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
    if bytes.len() % 8 != 0 {
        return Err(serde::de::Error::custom("a seccomp program is a whole number of 8-byte instructions"));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| Instruction {
            code: u16::from_be_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let program = SeccompProgram {
            flags: 2,
            instructions: vec![
                Instruction { code: 0x20, jt: 0, jf: 0, k: 4 },
                Instruction { code: 0x15, jt: 1, jf: 0, k: 0xc000_003e },
                Instruction { code: 0x06, jt: 0, jf: 0, k: 0x7fff_0000 },
            ],
        };
        let json = serde_json::to_string(&program).unwrap();
        assert_eq!(json, r#"{"flags":2,"instructions":"002000000000000400150100c000003e000600007fff0000"}"#);
        assert_eq!(serde_json::from_str::<SeccompProgram>(&json).unwrap(), program);
        assert!(serde_json::from_str::<SeccompProgram>(r#"{"flags":0,"instructions":"0020"}"#).is_err());
    }
}
