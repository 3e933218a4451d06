//! CPU time of a process, from `/proc/<pid>/stat`: user plus system time of all its threads.
//! Over a measured window, divided by the requests served, it gives a proxy's CPU cost per
//! request — a figure that stays meaningful on a busy machine where wall-clock rates do not.

use std::sync::OnceLock;
use std::time::Duration;

/// User plus system CPU time `pid` has used so far; `None` once it is gone.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks_to_duration(ticks, ticks_per_second()))
}

/// The CPU time of this process.
pub fn own_cpu_time() -> Option<Duration> {
    cpu_time(std::process::id())
}

/// utime + stime, in clock ticks, of a `/proc/<pid>/stat` line. The command name (field 2)
/// may hold spaces and parentheses: fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    let per_second = per_second.max(1);
    Duration::from_secs(ticks / per_second)
        + Duration::from_nanos((ticks % per_second) * 1_000_000_000 / per_second)
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told).
fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks_after_the_command_name() {
        // A command name with a space and a parenthesis, as the kernel would print it.
        let line = "4242 (a b) c) S 1 4242 4242 0 -1 4194560 2000 0 0 0 1234 56 0 0 20 0 \
                    9 0 12345 1000000 300 18446744073709551615";
        assert_eq!(parse_cpu_ticks(line), Some(1234 + 56));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert_eq!(parse_cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn ticks_become_durations() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(1, 3), Duration::from_nanos(333_333_333));
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let mut spent = 0u64;
        for i in 0..5_000_000u64 {
            spent = spent.wrapping_add(i * i);
        }
        std::hint::black_box(spent);
        assert!(own_cpu_time().is_some());
        assert_eq!(cpu_time(u32::MAX), None);
    }
}
