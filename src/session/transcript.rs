//! A session's bounded wire transcript: the first frames (negotiation) and the latest ones
//! are kept, the middle is counted. Callers redact secrets before recording.

use crate::checks::{Direction, Transcript, TranscriptLine};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Longest frame text kept, in bytes; longer frames are cut with a marker.
const MAX_LINE: usize = 2048;

/// A shared, bounded transcript recorder.
#[derive(Debug, Clone)]
pub struct Recorder(Arc<Mutex<Buf>>);

#[derive(Debug)]
struct Buf {
    start: Instant,
    head_cap: usize,
    tail_cap: usize,
    head: Vec<TranscriptLine>,
    tail: VecDeque<TranscriptLine>,
    omitted: usize,
}

impl Recorder {
    /// A recorder keeping `frames` frames at most (half first, half latest).
    pub fn new(start: Instant, frames: usize) -> Self {
        let head_cap = frames / 2;
        Self(Arc::new(Mutex::new(Buf {
            start,
            head_cap,
            tail_cap: frames - head_cap,
            head: Vec::new(),
            tail: VecDeque::new(),
            omitted: 0,
        })))
    }

    /// Records a frame at `at`.
    pub fn record(&self, at: Instant, dir: Direction, bytes: &[u8]) {
        let text = clip(bytes);
        let Ok(mut b) = self.0.lock() else { return };
        let line = TranscriptLine {
            t_ms: at.saturating_duration_since(b.start).as_secs_f64() * 1000.0,
            dir,
            text,
        };
        if b.head.len() < b.head_cap {
            b.head.push(line);
            return;
        }
        if b.tail.len() == b.tail_cap {
            b.tail.pop_front();
            b.omitted += 1;
        }
        b.tail.push_back(line);
    }

    /// Records a note by impress (not wire bytes).
    pub fn note(&self, at: Instant, text: &str) {
        self.record(at, Direction::Note, text.as_bytes());
    }

    /// A copy of what is kept, for evidence.
    pub fn snapshot(&self) -> Transcript {
        let Ok(b) = self.0.lock() else {
            return Transcript::default();
        };
        let mut lines = b.head.clone();
        lines.extend(b.tail.iter().cloned());
        Transcript {
            lines,
            omitted: b.omitted,
        }
    }
}

fn clip(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_LINE {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut s = String::from_utf8_lossy(&bytes[..MAX_LINE]).into_owned();
    s.push_str(&format!("… [{} more bytes]", bytes.len() - MAX_LINE));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_and_counts_the_middle() {
        let t0 = Instant::now();
        let r = Recorder::new(t0, 4);
        for i in 0..10 {
            r.record(t0, Direction::In, format!("<m{i}/>").as_bytes());
        }
        let s = r.snapshot();
        let texts: Vec<_> = s.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["<m0/>", "<m1/>", "<m8/>", "<m9/>"]);
        assert_eq!(s.omitted, 6);
    }

    #[test]
    fn long_frames_are_clipped() {
        let r = Recorder::new(Instant::now(), 4);
        r.record(Instant::now(), Direction::In, &vec![b'a'; 10_000]);
        assert!(r.snapshot().lines[0].text.len() < 2100);
    }
}
