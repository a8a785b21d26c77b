//! Applies the Dockerfile-style `--change` instructions of `docker commit` and `docker import` to
//! an image's run config, following dockerd's `BuildFromConfig` rules and error messages.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::images::config::{ContainerConfig, EmptyObject};

/// Why a change instruction could not be applied; messages match dockerd's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The instruction is not one `docker commit --change` accepts.
    #[error("{0} is not a valid change command")]
    InvalidCommand(String),
    /// The instruction was given no arguments.
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(&'static str),
    /// The instruction needs exactly one argument.
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(&'static str),
    /// The legacy `KEY value` form was given only a key.
    #[error("{0} must have two arguments")]
    TwoArguments(&'static str),
    /// A `name=value` word has no `=`.
    #[error("Syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
    /// An ENV or LABEL name is empty.
    #[error("{0} names can not be blank")]
    BlankName(&'static str),
    /// An EXPOSE port is not a number or range in 1-65535.
    #[error("invalid containerPort: {0}")]
    InvalidPort(String),
    /// An EXPOSE protocol is not tcp, udp or sctp.
    #[error("invalid proto: {0}")]
    InvalidProto(String),
    /// A VOLUME entry is empty.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    /// STOPSIGNAL names no known signal.
    #[error("Invalid signal: {0}")]
    InvalidSignal(String),
    /// ONBUILD was followed by ONBUILD.
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    ChainedOnBuild,
    /// ONBUILD was followed by FROM or MAINTAINER.
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnBuildTrigger(String),
    /// A `${…}` expansion is malformed.
    #[error("failed to process {0:?}: {1}")]
    BadSubstitution(String, &'static str),
    /// HEALTHCHECK was given a type other than CMD or NONE.
    #[error("Unknown type {0:?} in HEALTHCHECK (try CMD)")]
    HealthcheckType(String),
    /// HEALTHCHECK NONE was given more words.
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArguments,
    /// A flag the instruction does not know.
    #[error("Unknown flag: {0}")]
    UnknownFlag(String),
    /// A HEALTHCHECK duration flag is not a Go duration.
    #[error("time: invalid duration {0:?}")]
    InvalidDuration(String),
    /// A HEALTHCHECK duration flag is below one millisecond.
    #[error("Interval {0:?} cannot be less than 1ms")]
    DurationTooShort(String),
    /// The HEALTHCHECK retries flag is not a non-negative integer.
    #[error("--retries cannot be negative ({0})")]
    InvalidRetries(String),
}

/// Applies `changes` (each a Dockerfile instruction) to `config` in order.
pub fn apply_changes(config: &mut ContainerConfig, changes: &[String]) -> Result<(), ChangeError> {
    let lines = logical_lines(&changes.join("\n"));
    let mut instructions = Vec::with_capacity(lines.len());
    for line in &lines {
        let (keyword, rest) = split_keyword(line);
        if !VALID_COMMANDS.contains(&keyword.to_ascii_lowercase().as_str()) {
            return Err(ChangeError::InvalidCommand(keyword.to_string()));
        }
        instructions.push((keyword.to_ascii_lowercase(), rest, line.as_str()));
    }
    let mut cmd_set = false;
    for (keyword, rest, line) in instructions {
        apply_one(config, &keyword, rest, line, &mut cmd_set)?;
    }
    Ok(())
}

/// The instructions dockerd accepts as changes (`validCommitCommands`).
const VALID_COMMANDS: [&str; 11] = [
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "healthcheck",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Applies one instruction; `cmd_set` records whether CMD has been set by an earlier change.
fn apply_one(
    config: &mut ContainerConfig,
    keyword: &str,
    rest: &str,
    line: &str,
    cmd_set: &mut bool,
) -> Result<(), ChangeError> {
    match keyword {
        "cmd" => {
            config.cmd = Some(command_line(rest, config));
            *cmd_set = true;
        }
        "entrypoint" => {
            config.entrypoint = Some(command_line(rest, config));
            // Like a Dockerfile, a new ENTRYPOINT drops an inherited CMD.
            if !*cmd_set {
                config.cmd = None;
            }
        }
        "env" => {
            let pairs = name_value_pairs(rest, "ENV", &config.env)?;
            for (key, value) in pairs {
                set_env(&mut config.env, &key, &value);
            }
        }
        "label" => {
            let pairs = name_value_pairs(rest, "LABEL", &config.env)?;
            for (key, value) in pairs {
                config.labels.insert(key, value);
            }
        }
        "workdir" => {
            let path = single_argument(rest, "WORKDIR", &config.env)?;
            config.working_dir = normalize_workdir(&config.working_dir, &path);
        }
        "user" => config.user = single_argument(rest, "USER", &config.env)?,
        "stopsignal" => {
            let signal = single_argument(rest, "STOPSIGNAL", &config.env)?;
            if !is_valid_signal(&signal) {
                return Err(ChangeError::InvalidSignal(signal));
            }
            config.stop_signal = signal;
        }
        "expose" => {
            let words = process_words(rest, &config.env)?;
            if words.is_empty() {
                return Err(ChangeError::AtLeastOneArgument("EXPOSE"));
            }
            for word in words {
                for port in parse_port_spec(&word)? {
                    config.exposed_ports.insert(port, EmptyObject {});
                }
            }
        }
        "volume" => {
            let volumes = match json_string_array(rest) {
                Some(list) => list,
                None => process_words(rest, &config.env)?,
            };
            if volumes.is_empty() {
                return Err(ChangeError::AtLeastOneArgument("VOLUME"));
            }
            for volume in volumes {
                if volume.trim().is_empty() {
                    return Err(ChangeError::EmptyVolume);
                }
                config.volumes.insert(volume, EmptyObject {});
            }
        }
        "onbuild" => config.on_build.push(onbuild_trigger(rest, line)?),
        "healthcheck" => config.healthcheck = Some(healthcheck(rest)?),
        _ => return Err(ChangeError::InvalidCommand(keyword.to_string())),
    }
    Ok(())
}

/// Joins `\`-continued lines and drops blank and `#` comment lines, as the Dockerfile parser does.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(continued) => current.push_str(continued),
            None => {
                current.push_str(trimmed);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        lines.push(current);
    }
    lines
}

/// Splits an instruction line into its keyword and the trimmed rest.
fn split_keyword(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.split_once(char::is_whitespace) {
        Some((keyword, rest)) => (keyword, rest.trim()),
        None => (line, ""),
    }
}

/// Parses `rest` as a JSON array of strings, the exec form of CMD, ENTRYPOINT and VOLUME.
fn json_string_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

/// The command for CMD or ENTRYPOINT: exec form as given, shell form wrapped in the image's shell.
fn command_line(rest: &str, config: &ContainerConfig) -> Vec<String> {
    if let Some(list) = json_string_array(rest) {
        return list;
    }
    let mut command = shell(config);
    if !rest.is_empty() {
        command.push(rest.to_string());
    }
    command
}

/// The shell for shell-form commands: the config's `Shell`, else `/bin/sh -c`.
fn shell(config: &ContainerConfig) -> Vec<String> {
    match &config.shell {
        Some(shell) if !shell.is_empty() => shell.clone(),
        _ => vec!["/bin/sh".to_string(), "-c".to_string()],
    }
}

/// Sets `key` in a `KEY=value` list, replacing an existing entry.
fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let existing = env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key);
    match existing {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

/// Parses ENV/LABEL arguments: `k=v k2="v 2"` pairs, or the legacy `key value with spaces`.
fn name_value_pairs(
    rest: &str,
    instruction: &'static str,
    env: &[String],
) -> Result<Vec<(String, String)>, ChangeError> {
    let words = split_raw_words(rest);
    let Some(first) = words.first() else {
        return Err(ChangeError::AtLeastOneArgument(instruction));
    };
    if !first.contains('=') {
        let Some((key, value)) = rest.split_once(char::is_whitespace) else {
            return Err(ChangeError::TwoArguments(instruction));
        };
        let key = process_word(key, env)?;
        if key.is_empty() {
            return Err(ChangeError::BlankName(instruction));
        }
        return Ok(vec![(key, process_word(value.trim_start(), env)?)]);
    }
    let mut pairs = Vec::with_capacity(words.len());
    for word in &words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(ChangeError::MissingEquals(word.clone()));
        };
        let key = process_word(key, env)?;
        if key.is_empty() {
            return Err(ChangeError::BlankName(instruction));
        }
        pairs.push((key, process_word(value, env)?));
    }
    Ok(pairs)
}

/// The one argument of WORKDIR, USER or STOPSIGNAL, with quotes and variables processed.
fn single_argument(rest: &str, instruction: &'static str, env: &[String]) -> Result<String, ChangeError> {
    if rest.is_empty() {
        return Err(ChangeError::ExactlyOneArgument(instruction));
    }
    process_word(rest, env)
}

/// Resolves a WORKDIR against the current one and cleans it, like dockerd's `normalizeWorkdir`.
fn normalize_workdir(current: &str, requested: &str) -> String {
    if requested.is_empty() {
        return current.to_string();
    }
    let joined = if requested.starts_with('/') { requested.to_string() } else { format!("/{current}/{requested}") };
    clean_path(&joined)
}

/// Lexically cleans an absolute path: collapses `//`, drops `.`, resolves `..`.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Expands one EXPOSE word (`80`, `80/tcp`, `53/UDP`, `8000-8002`) into `port/proto` keys.
fn parse_port_spec(word: &str) -> Result<Vec<String>, ChangeError> {
    let (ports, proto) = match word.split_once('/') {
        Some((ports, "")) => (ports, "tcp".to_string()),
        Some((ports, proto)) => (ports, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(ChangeError::InvalidProto(proto));
    }
    let invalid = || ChangeError::InvalidPort(ports.to_string());
    let parse = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(invalid);
    let (start, end) = match ports.split_once('-') {
        Some((start, end)) => (parse(start)?, parse(end)?),
        None => {
            let port = parse(ports)?;
            (port, port)
        }
    };
    if end < start {
        return Err(invalid());
    }
    Ok((start..=end).map(|port| format!("{port}/{proto}")).collect())
}

/// Reports whether `signal` is a signal number or name dockerd's `signal.ParseSignal` accepts.
fn is_valid_signal(signal: &str) -> bool {
    if let Ok(number) = signal.parse::<u32>() {
        return number > 0 && number <= 64;
    }
    let upper = signal.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(offset) = name.strip_prefix("RTMIN+").or_else(|| name.strip_prefix("RTMAX-")) {
        return offset.parse::<u32>().is_ok_and(|n| (1..=15).contains(&n));
    }
    SIGNAL_NAMES.contains(&name)
}

/// Linux signal names without the `SIG` prefix, as in dockerd's signal map.
const SIGNAL_NAMES: [&str; 35] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
    "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
    "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN",
];

/// The stored ONBUILD trigger: the original text after the keyword, after dockerd's checks.
fn onbuild_trigger(rest: &str, line: &str) -> Result<String, ChangeError> {
    let (trigger, _) = split_keyword(rest);
    if trigger.is_empty() {
        return Err(ChangeError::AtLeastOneArgument("ONBUILD"));
    }
    match trigger.to_ascii_uppercase().as_str() {
        "ONBUILD" => return Err(ChangeError::ChainedOnBuild),
        "FROM" | "MAINTAINER" => return Err(ChangeError::OnBuildTrigger(trigger.to_string())),
        _ => {}
    }
    let (_, original) = split_keyword(line);
    Ok(original.to_string())
}

/// Builds the `Healthcheck` object for `HEALTHCHECK [--flag=v…] CMD …` or `HEALTHCHECK NONE`.
fn healthcheck(rest: &str) -> Result<Value, ChangeError> {
    let mut flags = BTreeMap::new();
    let mut remaining = rest;
    while remaining.starts_with("--") {
        let (word, after) = split_keyword(remaining);
        let (name, value) = word[2..].split_once('=').unwrap_or((&word[2..], ""));
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => "Retries",
            _ => return Err(ChangeError::UnknownFlag(name.to_string())),
        };
        let number = if key == "Retries" {
            match value.parse::<i64>() {
                Ok(retries) if retries >= 0 => retries,
                _ => return Err(ChangeError::InvalidRetries(value.to_string())),
            }
        } else {
            let nanos = parse_go_duration(value)?;
            if nanos != 0 && nanos < 1_000_000 {
                return Err(ChangeError::DurationTooShort(format!("--{name}")));
            }
            nanos
        };
        if number != 0 {
            flags.insert(key, number);
        }
        remaining = after;
    }

    let (kind, command) = split_keyword(remaining);
    if kind.is_empty() {
        return Err(ChangeError::AtLeastOneArgument("HEALTHCHECK"));
    }
    let test = match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !command.is_empty() {
                return Err(ChangeError::HealthcheckNoneArguments);
            }
            return Ok(json!({ "Test": ["NONE"] }));
        }
        "CMD" => match json_string_array(command) {
            Some(list) => std::iter::once("CMD".to_string()).chain(list).collect(),
            None => vec!["CMD-SHELL".to_string(), command.to_string()],
        },
        _ => return Err(ChangeError::HealthcheckType(kind.to_string())),
    };
    let mut object = serde_json::Map::new();
    object.insert("Test".to_string(), json!(test));
    for (key, number) in flags {
        object.insert(key.to_string(), json!(number));
    }
    Ok(Value::Object(object))
}

/// Parses a Go duration string (`30s`, `1m30s`, `1.5h`, `500ms`) into nanoseconds.
fn parse_go_duration(text: &str) -> Result<i64, ChangeError> {
    let invalid = || ChangeError::InvalidDuration(text.to_string());
    if text == "0" {
        return Ok(0);
    }
    let mut rest = text;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// Splits on unquoted whitespace, keeping quotes and escapes in the words (Docker's `parseWords`).
fn split_raw_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            _ => {}
        }
        word.push(c);
        if c == '\\'
            && quote != Some('\'')
            && let Some(next) = chars.next()
        {
            word.push(next);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Splits on unquoted whitespace and processes each word (Docker's `ProcessWords`).
fn process_words(text: &str, env: &[String]) -> Result<Vec<String>, ChangeError> {
    split_raw_words(text).iter().map(|word| process_word(word, env)).collect()
}

/// Removes quotes and escapes and expands `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR:+x}` (ProcessWord).
fn process_word(word: &str, env: &[String]) -> Result<String, ChangeError> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut in_double = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' if !in_double => {
                let close = chars[i + 1..].iter().position(|&x| x == '\'');
                let end = close.map_or(chars.len(), |p| i + 1 + p);
                out.extend(&chars[i + 1..end]);
                i = end + 1;
                continue;
            }
            '"' => in_double = !in_double,
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    if in_double && !matches!(next, '"' | '$' | '\\') {
                        out.push('\\');
                    }
                    out.push(next);
                    i += 1;
                }
            }
            '$' => {
                let (value, used) = expand_variable(&chars[i + 1..], env, word)?;
                out.push_str(&value);
                i += used;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Expands the variable reference after a `$`, returning its value and the characters consumed.
fn expand_variable(chars: &[char], env: &[String], word: &str) -> Result<(String, usize), ChangeError> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if chars.first() == Some(&'{') {
        let close = chars
            .iter()
            .position(|&c| c == '}')
            .ok_or_else(|| ChangeError::BadSubstitution(word.to_string(), "missing '}'"))?;
        let inner: String = chars[1..close].iter().collect();
        let value = match inner.split_once(':') {
            Some((name, modifier)) => {
                let current = lookup_env(env, name);
                if let Some(default) = modifier.strip_prefix('-') {
                    match current {
                        Some(v) if !v.is_empty() => v.to_string(),
                        _ => process_word(default, env)?,
                    }
                } else if let Some(alternate) = modifier.strip_prefix('+') {
                    match current {
                        Some(v) if !v.is_empty() => process_word(alternate, env)?,
                        _ => String::new(),
                    }
                } else {
                    return Err(ChangeError::BadSubstitution(word.to_string(), "unsupported modifier"));
                }
            }
            None => {
                if inner.is_empty() || !inner.chars().all(is_name) {
                    return Err(ChangeError::BadSubstitution(word.to_string(), "bad substitution"));
                }
                lookup_env(env, &inner).unwrap_or_default().to_string()
            }
        };
        return Ok((value, close + 1));
    }
    let len = chars.iter().take_while(|&&c| is_name(c)).count();
    if len == 0 {
        return Ok(("$".to_string(), 0));
    }
    let name: String = chars[..len].iter().collect();
    Ok((lookup_env(env, &name).unwrap_or_default().to_string(), len))
}

/// The value of `name` in a `KEY=value` list.
fn lookup_env<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|entry| match entry.split_once('=') {
        Some((key, value)) if key == name => Some(value),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(config: &mut ContainerConfig, changes: &[&str]) -> Result<(), ChangeError> {
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(config, &changes)
    }

    fn applied(changes: &[&str]) -> ContainerConfig {
        let mut config = ContainerConfig::default();
        apply(&mut config, changes).unwrap();
        config
    }

    fn error(changes: &[&str]) -> String {
        let mut config = ContainerConfig::default();
        apply(&mut config, changes).unwrap_err().to_string()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cmd_exec_and_shell_forms() {
        assert_eq!(applied(&[r#"CMD ["echo", "hi"]"#]).cmd, Some(strings(&["echo", "hi"])));
        assert_eq!(applied(&["cmd echo $HOME hi"]).cmd, Some(strings(&["/bin/sh", "-c", "echo $HOME hi"])));
        assert_eq!(applied(&["CMD []"]).cmd, Some(Vec::new()));
        // Broken JSON falls back to the shell form.
        assert_eq!(applied(&["CMD [echo"]).cmd, Some(strings(&["/bin/sh", "-c", "[echo"])));
        let mut config = ContainerConfig { shell: Some(strings(&["/bin/bash", "-lc"])), ..ContainerConfig::default() };
        apply(&mut config, &["CMD ls"]).unwrap();
        assert_eq!(config.cmd, Some(strings(&["/bin/bash", "-lc", "ls"])));
    }

    #[test]
    fn entrypoint_forms_and_cmd_reset() {
        let mut config = ContainerConfig { cmd: Some(strings(&["sh"])), ..ContainerConfig::default() };
        apply(&mut config, &[r#"ENTRYPOINT ["/entry", "-v"]"#]).unwrap();
        assert_eq!(config.entrypoint, Some(strings(&["/entry", "-v"])));
        assert_eq!(config.cmd, None);

        let config = applied(&["CMD --help", "Entrypoint run it"]);
        assert_eq!(config.entrypoint, Some(strings(&["/bin/sh", "-c", "run it"])));
        assert_eq!(config.cmd, Some(strings(&["/bin/sh", "-c", "--help"])));
    }

    #[test]
    fn env_forms() {
        let config = applied(&[r#"ENV A=1 B="two words" C=three\ words"#]);
        assert_eq!(config.env, strings(&["A=1", "B=two words", "C=three words"]));

        let config = applied(&["env LEGACY value with  spaces"]);
        assert_eq!(config.env, strings(&["LEGACY=value with  spaces"]));

        let config = applied(&["ENV EMPTY="]);
        assert_eq!(config.env, strings(&["EMPTY="]));
    }

    #[test]
    fn env_replaces_existing_key_and_expands() {
        let mut config =
            ContainerConfig { env: strings(&["PATH=/usr/bin", "HOME=/root"]), ..ContainerConfig::default() };
        apply(&mut config, &["ENV PATH=/opt/bin:$PATH", "ENV HOME /home/x", "ENV D=${MISSING:-dflt}"]).unwrap();
        assert_eq!(config.env, strings(&["PATH=/opt/bin:/usr/bin", "HOME=/home/x", "D=dflt"]));
        apply(&mut config, &[r#"ENV S='$HOME' T="${HOME}/a" U=\$HOME"#]).unwrap();
        assert_eq!(&config.env[3..], &strings(&["S=$HOME", "T=/home/x/a", "U=$HOME"]));
    }

    #[test]
    fn env_errors() {
        assert_eq!(error(&["ENV"]), "ENV requires at least one argument");
        assert_eq!(error(&["ENV ONLYKEY"]), "ENV must have two arguments");
        assert_eq!(error(&["ENV A=1 B"]), r#"Syntax error - can't find = in "B". Must be of the form: name=value"#);
        assert_eq!(error(&["ENV =x"]), "ENV names can not be blank");
    }

    #[test]
    fn workdir_is_normalized() {
        assert_eq!(applied(&["WORKDIR /app"]).working_dir, "/app");
        assert_eq!(applied(&["WORKDIR /app/../srv/./x/"]).working_dir, "/srv/x");
        assert_eq!(applied(&["WORKDIR /a", "WORKDIR b"]).working_dir, "/a/b");
        assert_eq!(applied(&["WORKDIR rel"]).working_dir, "/rel");
        assert_eq!(applied(&["ENV BASE=/opt", "WORKDIR $BASE/app"]).working_dir, "/opt/app");
        assert_eq!(error(&["WORKDIR"]), "WORKDIR requires exactly one argument");
    }

    #[test]
    fn user() {
        assert_eq!(applied(&["USER nobody"]).user, "nobody");
        assert_eq!(applied(&["user 1000:1000"]).user, "1000:1000");
        assert_eq!(error(&["USER"]), "USER requires exactly one argument");
    }

    #[test]
    fn expose() {
        let config = applied(&["EXPOSE 80 443/tcp 53/udp", "expose 8000-8002/TCP"]);
        let keys: Vec<&str> = config.exposed_ports.keys().map(String::as_str).collect();
        assert_eq!(keys, ["443/tcp", "53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]);
        assert_eq!(error(&["EXPOSE"]), "EXPOSE requires at least one argument");
        assert_eq!(error(&["EXPOSE abc"]), "invalid containerPort: abc");
        assert_eq!(error(&["EXPOSE 70000"]), "invalid containerPort: 70000");
        assert_eq!(error(&["EXPOSE 80/xyz"]), "invalid proto: xyz");
    }

    #[test]
    fn label() {
        let config = applied(&[r#"LABEL a=b "c d"="e f" version=1.0"#, "LABEL legacy some value"]);
        assert_eq!(config.labels["a"], "b");
        assert_eq!(config.labels["c d"], "e f");
        assert_eq!(config.labels["version"], "1.0");
        assert_eq!(config.labels["legacy"], "some value");
        assert_eq!(applied(&["LABEL a=1", "LABEL a=2"]).labels["a"], "2");
        assert_eq!(error(&["LABEL"]), "LABEL requires at least one argument");
    }

    #[test]
    fn volume() {
        let config = applied(&[r#"VOLUME ["/data", "/logs"]"#, "VOLUME /a /b"]);
        let keys: Vec<&str> = config.volumes.keys().map(String::as_str).collect();
        assert_eq!(keys, ["/a", "/b", "/data", "/logs"]);
        assert_eq!(error(&["VOLUME"]), "VOLUME requires at least one argument");
        assert_eq!(error(&[r#"VOLUME ["/x", ""]"#]), "VOLUME specified can not be an empty string");
    }

    #[test]
    fn stopsignal() {
        assert_eq!(applied(&["STOPSIGNAL SIGINT"]).stop_signal, "SIGINT");
        assert_eq!(applied(&["STOPSIGNAL 9"]).stop_signal, "9");
        assert_eq!(applied(&["STOPSIGNAL quit"]).stop_signal, "quit");
        assert_eq!(applied(&["STOPSIGNAL SIGRTMIN+3"]).stop_signal, "SIGRTMIN+3");
        assert_eq!(error(&["STOPSIGNAL SIGFOO"]), "Invalid signal: SIGFOO");
        assert_eq!(error(&["STOPSIGNAL"]), "STOPSIGNAL requires exactly one argument");
    }

    #[test]
    fn onbuild() {
        let config = applied(&["ONBUILD RUN echo hi", "onbuild  ADD . /app"]);
        assert_eq!(config.on_build, strings(&["RUN echo hi", "ADD . /app"]));
        assert_eq!(error(&["ONBUILD ONBUILD RUN x"]), "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        assert_eq!(error(&["ONBUILD FROM busybox"]), "FROM isn't allowed as an ONBUILD trigger");
        assert_eq!(error(&["ONBUILD"]), "ONBUILD requires at least one argument");
    }

    #[test]
    fn healthcheck() {
        assert_eq!(applied(&["HEALTHCHECK NONE"]).healthcheck, Some(json!({"Test": ["NONE"]})));
        assert_eq!(
            applied(&["HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/"]).healthcheck,
            Some(json!({
                "Test": ["CMD-SHELL", "curl -f http://localhost/"],
                "Interval": 30_000_000_000_i64,
                "Retries": 3
            }))
        );
        assert_eq!(
            applied(&[r#"HEALTHCHECK --timeout=1m30s CMD ["/check", "x"]"#]).healthcheck,
            Some(json!({"Test": ["CMD", "/check", "x"], "Timeout": 90_000_000_000_i64}))
        );
        assert_eq!(error(&["HEALTHCHECK RUN x"]), r#"Unknown type "RUN" in HEALTHCHECK (try CMD)"#);
        assert_eq!(error(&["HEALTHCHECK --bogus=1 CMD x"]), "Unknown flag: bogus");
        assert_eq!(error(&["HEALTHCHECK --interval=1us CMD x"]), r#"Interval "--interval" cannot be less than 1ms"#);
        assert_eq!(error(&["HEALTHCHECK NONE x"]), "HEALTHCHECK NONE takes no arguments");
        assert_eq!(error(&["HEALTHCHECK"]), "HEALTHCHECK requires at least one argument");
    }

    #[test]
    fn invalid_command_keeps_case_and_applies_nothing() {
        let mut config = ContainerConfig::default();
        let err = apply(&mut config, &["ENV A=1", "RUN echo hi"]).unwrap_err();
        assert_eq!(err.to_string(), "RUN is not a valid change command");
        assert!(config.env.is_empty());
        assert_eq!(error(&["from busybox"]), "from is not a valid change command");
    }

    #[test]
    fn continuations_comments_and_blank_changes() {
        let config = applied(&["", "# comment", "ENV A=1 \\\n B=2", "  USER bob  "]);
        assert_eq!(config.env, strings(&["A=1", "B=2"]));
        assert_eq!(config.user, "bob");
        assert_eq!(applied(&[]), ContainerConfig::default());
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h2m3s").unwrap(), 3_723_000_000_000);
        assert_eq!(parse_go_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_go_duration("500ms").unwrap(), 500_000_000);
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("5x").is_err());
    }
}
