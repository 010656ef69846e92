"""Separable Gaussian filtering shared by SSIM and VIF (OpenCV, float64).

MATLAB's ``fspecial('gaussian', N, s)`` is the outer product of a normalised 1-D Gaussian with
itself, so filtering with it equals two 1-D passes with ``cv2.getGaussianKernel(N, s)``. The
kernels are symmetric, so correlation (OpenCV) and convolution (MATLAB ``conv2``) coincide.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


@lru_cache(maxsize=16)
def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """(size, 1) float64 Gaussian taps summing to 1, centred on the middle tap."""
    kernel = cv2.getGaussianKernel(size, sigma, cv2.CV_64F)
    kernel.setflags(write=False)
    return kernel


def filter_same(img: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """(H, W) -> (H, W) Gaussian filter, borders replicated (MATLAB ``imgaussfilt`` 'replicate')."""
    k = gaussian_kernel(size, sigma)
    return cv2.sepFilter2D(img, cv2.CV_64F, k, k, borderType=cv2.BORDER_REPLICATE)


def filter_valid(img: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """(H, W) -> (H-size+1, W-size+1): only the positions where the window fits (``filter2(.., 'valid')``).

    Raises ``ValueError`` when the image is smaller than the window; callers turn it into their own message.
    """
    r = size // 2
    h, w = img.shape
    if h < size or w < size:
        raise ValueError(f"image {h}x{w} is smaller than the {size}x{size} window")
    k = gaussian_kernel(size, sigma)
    full = cv2.sepFilter2D(img, cv2.CV_64F, k, k, borderType=cv2.BORDER_CONSTANT)
    return full[r:h - r, r:w - r]
