"""PyTorch reference timing for bench/backbone.ts: the same BEiT-3 ViTDet
encoder (sub-LN blocks, 14x14 windows with zero padding, 4 global blocks,
decomposed relative positions), forward only, batch 1. Prints JSON."""
import json, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {"base": (768, 12, 12, 3072, [2, 5, 8, 11]), "large": (1024, 24, 16, 4096, [5, 11, 17, 23])}


def rel_pos(n, table):
    idx = (torch.arange(n)[:, None] - torch.arange(n)[None, :]) + n - 1
    return table[idx]


class Block(nn.Module):
    def __init__(self, dim, heads, ffn, window, grid):
        super().__init__()
        self.heads, self.window = heads, window
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.inner = nn.LayerNorm(dim)
        self.fc1, self.fc2, self.ffn_ln = nn.Linear(dim, ffn), nn.Linear(ffn, dim), nn.LayerNorm(ffn)
        s = window if window else grid
        self.rh = nn.Parameter(torch.zeros(2 * s - 1, dim // heads))
        self.rw = nn.Parameter(torch.zeros(2 * s - 1, dim // heads))

    def attn(self, x):
        B, H, W, C = x.shape
        d = C // self.heads
        q = self.q(x).reshape(B, H * W, self.heads, d).transpose(1, 2)
        k = self.k(x).reshape(B, H * W, self.heads, d).transpose(1, 2)
        v = self.v(x).reshape(B, H * W, self.heads, d).transpose(1, 2)
        a = (q * d ** -0.5) @ k.transpose(-2, -1)
        rq = q.reshape(B, self.heads, H, W, d)
        Rh, Rw = rel_pos(H, self.rh), rel_pos(W, self.rw)
        a = a.view(B, self.heads, H, W, H, W)
        a = a + torch.einsum("bnhwc,hkc->bnhwk", rq, Rh)[..., :, None] + torch.einsum("bnhwc,wkc->bnhwk", rq, Rw)[..., None, :]
        a = a.view(B, self.heads, H * W, H * W).softmax(-1)
        o = (a @ v).transpose(1, 2).reshape(B, H, W, C)
        return self.o(self.inner(o))

    def forward(self, x):
        B, H, W, C = x.shape
        h = self.n1(x)
        if self.window:
            ws = self.window
            ph, pw = (ws - H % ws) % ws, (ws - W % ws) % ws
            h = F.pad(h, (0, 0, 0, pw, 0, ph))
            Hp, Wp = H + ph, W + pw
            h = h.view(B, Hp // ws, ws, Wp // ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, C)
            h = self.attn(h)
            h = h.view(B, Hp // ws, Wp // ws, ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, C)[:, :H, :W]
        else:
            h = self.attn(h)
        x = x + h
        return x + self.fc2(self.ffn_ln(F.gelu(self.fc1(self.n2(x)))))


def main():
    size, img, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    dim, depth, heads, ffn, glob = SIZES[size]
    # Give PyTorch every core (its default here is 1).
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    grid = img // 16
    patch = nn.Conv2d(3, dim, 16, 16)
    blocks = nn.ModuleList(Block(dim, heads, ffn, 0 if i in glob else 14, grid) for i in range(depth))
    pos = torch.zeros(1, grid, grid, dim)
    x = torch.randn(1, 3, img, img)

    def fwd():
        with torch.no_grad():
            h = patch(x).permute(0, 2, 3, 1) + pos
            for b in blocks:
                h = b(h)
            return h

    fwd()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fwd()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(json.dumps({"ms": times[len(times) // 2], "threads": threads}))


main()
