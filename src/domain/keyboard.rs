//! Keyboard neighbours on qwerty, qwertz and azerty: the keys a finger slips to.
//! On a staggered keyboard, key (row r, column c) touches (r, c±1),
//! (r-1, c) and (r-1, c+1) above, (r+1, c-1) and (r+1, c) below. The
//! table is built once, on first use.

use std::sync::LazyLock;

const LAYOUTS: [[&str; 4]; 3] = [
    ["1234567890-", "qwertyuiop", "asdfghjkl", "zxcvbnm"],
    ["1234567890-", "qwertzuiop", "asdfghjkl", "yxcvbnm"],
    ["1234567890-", "azertyuiop", "qsdfghjklm", "wxcvbn"],
];

/// Neighbours of `c` on any of the three layouts, sorted, without
/// duplicates; none for a character on no layout.
pub(crate) fn neighbours(c: char) -> &'static [char] {
    static TABLE: LazyLock<Vec<Vec<char>>> =
        LazyLock::new(|| (0..128u8).map(|b| compute(char::from(b))).collect());
    u8::try_from(c)
        .ok()
        .and_then(|b| TABLE.get(usize::from(b)))
        .map_or(&[], Vec::as_slice)
}

fn compute(c: char) -> Vec<char> {
    let mut out = Vec::new();
    for layout in &LAYOUTS {
        let rows: Vec<Vec<char>> = layout.iter().map(|r| r.chars().collect()).collect();
        for (r, row) in rows.iter().enumerate() {
            let Some(col) = row.iter().position(|k| *k == c) else {
                continue;
            };
            let mut push = |r: usize, c: isize| {
                if let Some(k) = rows
                    .get(r)
                    .and_then(|row| usize::try_from(c).ok().and_then(|c| row.get(c)))
                {
                    out.push(*k);
                }
            };
            let col = col as isize;
            push(r, col - 1);
            push(r, col + 1);
            if r > 0 {
                push(r - 1, col);
                push(r - 1, col + 1);
            }
            push(r + 1, col - 1);
            push(r + 1, col);
        }
    }
    out.sort_unstable();
    out.dedup();
    out.retain(|k| *k != c);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwerty_neighbours() {
        // qwerty 'w': 2 3 q e a s; qwertz same; azerty 'w' is bottom-left: x q s
        let w = neighbours('w');
        for k in ['2', '3', 'q', 'e', 'a', 's', 'x'] {
            assert!(w.contains(&k), "{k} in {w:?}");
        }
        assert!(neighbours('a').contains(&'z'));
        assert!(!neighbours('a').contains(&'a'));
        // qwertz swaps y and z
        assert!(neighbours('t').contains(&'z'));
        assert!(neighbours('t').contains(&'y'));
        // off every layout: none, from the table as from the computation
        assert!(neighbours('é').is_empty() && neighbours('.').is_empty());
        for b in 0..128u8 {
            assert_eq!(neighbours(char::from(b)), compute(char::from(b)));
        }
    }
}
