"""vtscreen: a small terminal emulator for tests — what a screen shows
after a byte stream, for the control sequences voidbox writes: printable
text (UTF-8), CR, LF, BS, TAB, CSI n A/B/C/D/G/d (cursor moves), CSI J / K
(erase), CSI H (home / row;col), CSI m (attributes: ignored), CSI ? n h/l
(modes: ignored). Other escapes are dropped. Lines wrap at the width."""
import re

CSI = re.compile(rb"\x1b\[([?]?)([0-9;]*)([@-~])")


class Screen:
    def __init__(self, rows=24, cols=80):
        self.rows, self.cols = rows, cols
        self.lines = [[" "] * cols for _ in range(rows)]
        self.r = self.c = 0
        self.pending = b""

    def _scroll(self):
        self.lines.pop(0)
        self.lines.append([" "] * self.cols)

    def _lf(self):
        if self.r == self.rows - 1:
            self._scroll()
        else:
            self.r += 1

    def _put(self, ch):
        if self.c >= self.cols:
            self.c = 0
            self._lf()
        self.lines[self.r][self.c] = ch
        self.c += 1

    def _csi(self, private, params, final):
        nums = [int(p) if p else 0 for p in params.split(";")] if params else []
        n = nums[0] if nums and nums[0] else 1
        if private:
            return
        if final == "A":
            self.r = max(0, self.r - n)
        elif final == "B":
            self.r = min(self.rows - 1, self.r + n)
        elif final == "C":
            self.c = min(self.cols - 1, self.c + n)
        elif final == "D":
            self.c = max(0, self.c - n)
        elif final == "G":
            self.c = min(self.cols, max(1, nums[0] if nums else 1)) - 1
        elif final == "d":
            self.r = min(self.rows, max(1, nums[0] if nums else 1)) - 1
        elif final == "H":
            self.r = min(self.rows, max(1, nums[0] if nums else 1)) - 1
            self.c = min(self.cols, max(1, nums[1] if len(nums) > 1 else 1)) - 1
        elif final == "J":
            mode = nums[0] if nums else 0
            if mode == 0:
                self.lines[self.r][self.c:] = [" "] * (self.cols - self.c)
                for r in range(self.r + 1, self.rows):
                    self.lines[r] = [" "] * self.cols
            elif mode == 2:
                self.lines = [[" "] * self.cols for _ in range(self.rows)]
        elif final == "K":
            self.lines[self.r][self.c:] = [" "] * (self.cols - self.c)

    def feed(self, data):
        data = self.pending + data
        self.pending = b""
        i = 0
        while i < len(data):
            b = data[i]
            if b == 0x1b:
                m = CSI.match(data, i)
                if m:
                    self._csi(m.group(1).decode(), m.group(2).decode(), m.group(3).decode())
                    i = m.end()
                    continue
                if re.fullmatch(rb"\x1b(\[[?]?[0-9;]*)?", data[i:]):
                    self.pending = data[i:]	# cut short: wait for more
                    return
                i += 2	# a two-byte escape we do not model
                continue
            if b == 0x0d:
                self.c = 0
            elif b == 0x0a:
                self._lf()
            elif b == 0x08:
                self.c = max(0, self.c - 1)
            elif b == 0x09:
                self.c = min(self.cols - 1, (self.c // 8 + 1) * 8)
            elif b >= 0x20:
                # one UTF-8 character
                n = 1 if b < 0x80 else 2 if b < 0xe0 else 3 if b < 0xf0 else 4
                if i + n > len(data):
                    self.pending = data[i:]
                    return
                self._put(data[i:i + n].decode("utf-8", "replace"))
                i += n
                continue
            i += 1

    def text(self):
        """The screen, trailing blanks and blank last lines removed."""
        out = ["".join(l).rstrip() for l in self.lines]
        while out and not out[-1]:
            out.pop()
        return "\n".join(out)
