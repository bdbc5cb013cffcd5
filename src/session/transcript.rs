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

/// One kept frame, as bytes: text conversion waits for [`Recorder::snapshot`], which only
/// evidence needs, while recording happens for every datagram of a load run.
#[derive(Debug)]
struct Frame {
    t_ms: f64,
    dir: Direction,
    /// At most [`MAX_LINE`] bytes of the frame.
    bytes: Vec<u8>,
    /// The frame's whole length (more than `bytes.len()` when clipped).
    len: usize,
}

impl Frame {
    fn line(&self) -> TranscriptLine {
        TranscriptLine {
            t_ms: self.t_ms,
            dir: self.dir,
            text: clip(&self.bytes, self.len),
        }
    }
}

#[derive(Debug)]
struct Buf {
    start: Instant,
    head_cap: usize,
    tail_cap: usize,
    head: Vec<Frame>,
    tail: VecDeque<Frame>,
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
        let Ok(mut b) = self.0.lock() else { return };
        let t_ms = at.saturating_duration_since(b.start).as_secs_f64() * 1000.0;
        let kept = &bytes[..bytes.len().min(MAX_LINE)];
        if b.head.len() < b.head_cap {
            let frame = Frame {
                t_ms,
                dir,
                bytes: kept.to_vec(),
                len: bytes.len(),
            };
            b.head.push(frame);
            return;
        }
        if b.tail_cap == 0 {
            b.omitted += 1;
            return;
        }
        // A full ring hands its evicted frame's buffer to the new one: no allocation.
        let mut buf = Vec::new();
        if b.tail.len() == b.tail_cap
            && let Some(old) = b.tail.pop_front()
        {
            b.omitted += 1;
            buf = old.bytes;
            buf.clear();
        }
        buf.extend_from_slice(kept);
        b.tail.push_back(Frame {
            t_ms,
            dir,
            bytes: buf,
            len: bytes.len(),
        });
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
        let lines = b
            .head
            .iter()
            .chain(b.tail.iter())
            .map(Frame::line)
            .collect();
        Transcript {
            lines,
            omitted: b.omitted,
        }
    }
}

/// The text of a frame's kept bytes (lossy UTF-8), with a marker when `len` was longer.
fn clip(kept: &[u8], len: usize) -> String {
    let mut s = String::from_utf8_lossy(kept).into_owned();
    if len > kept.len() {
        s.push_str(&format!("… [{} more bytes]", len - kept.len()));
    }
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
