//! The R2Z2 cursor the feed saves, trailing the kills still in progress.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use crate::store::journal::Journal;

/// The R2Z2 cursor as saved: the last sequence such that every kill up to it is settled. Kills
/// are enriched concurrently, so it trails the cursor by the kills still in progress; a restart
/// resumes after it and the store drops any kill it already holds.
pub struct Watermark {
    journal: Journal,
    also_save: Option<super::SaveCursor>,
    /// Sequences handed over and not yet settled.
    unsettled: BTreeSet<u64>,
    /// The next sequence the feed will ask for (everything before it was handed over or skipped).
    next: u64,
    saved: Option<u64>,
}

impl Watermark {
    pub fn new(journal: Journal, also_save: Option<super::SaveCursor>) -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(Self {
            journal,
            also_save,
            unsettled: BTreeSet::new(),
            next: 0,
            saved: None,
        }))
    }

    pub fn handed(&mut self, sequence: u64) {
        self.unsettled.insert(sequence);
    }

    pub fn moved_to(&mut self, next: u64) {
        self.next = next;
        self.save();
    }

    pub fn settled(&mut self, sequence: u64) {
        self.unsettled.remove(&sequence);
        self.save();
    }

    fn save(&mut self) {
        let first_open = self.unsettled.first().copied().unwrap_or(self.next);
        let Some(mark) = first_open.checked_sub(1) else {
            return;
        };
        if self.saved.is_none_or(|saved| mark > saved) {
            self.saved = Some(mark);
            self.journal.save_cursor(mark);
            if let Some(save) = &self.also_save {
                save(mark);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_saved_cursor_trails_the_oldest_unsettled_kill() {
        let dir = std::env::temp_dir().join(format!("wk-watermark-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (journal, _) = Journal::open(&dir, 3600).expect("opens");
        let mark = Watermark::new(journal.clone(), None);
        let saved = || mark.borrow().saved;

        mark.borrow_mut().moved_to(100);
        assert_eq!(saved(), Some(99), "nothing handed over yet");
        for sequence in [100, 101, 102] {
            mark.borrow_mut().handed(sequence);
            mark.borrow_mut().moved_to(sequence + 1);
        }
        assert_eq!(saved(), Some(99), "100 is still being enriched");
        mark.borrow_mut().settled(101);
        assert_eq!(saved(), Some(99));
        mark.borrow_mut().settled(100);
        assert_eq!(saved(), Some(101), "102 is still open");
        mark.borrow_mut().settled(102);
        assert_eq!(saved(), Some(102));

        actix::System::new().block_on(journal.flush());
        let (_, loaded) = Journal::open(&dir, 3600).expect("opens again");
        assert_eq!(loaded.r2z2_cursor, Some(102));
        let _ = std::fs::remove_dir_all(dir);
    }
}
