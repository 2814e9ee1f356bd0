"""Reading and writing images, DICOM series, cine studies, landmarks and contours."""
