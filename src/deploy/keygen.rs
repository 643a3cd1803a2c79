//! Generates the static keys of a `mode = "setkey"` link (`vpnjail keygen`).
//! May touch: /dev/urandom (read only).

use super::model::Cipher;
use std::io::Read;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random(n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// A key file for `[[link]] key_file`: two lines (hosts[0]→hosts[1], then
/// back) of the largest key size the cipher takes.
pub fn key_file(cipher: Cipher) -> std::io::Result<String> {
    let mut s = format!(
        "# {} keys for a vpnjail setkey link: hosts[0] -> hosts[1], then back.\n",
        cipher.setkey_name()
    );
    for _ in 0..2 {
        match cipher {
            // 256-bit key + 32-bit salt.
            Cipher::AesGcm16 => s.push_str(&format!("0x{}\n", hex(&random(36)?))),
            Cipher::AesCbc => s.push_str(&format!(
                "0x{} 0x{}\n",
                hex(&random(32)?),
                hex(&random(32)?)
            )),
        }
    }
    Ok(s)
}
