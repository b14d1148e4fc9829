// Eye image: a disk of radius u_eye_radius (pixels) around each pupil (pixel coordinates, same
// convention as the vertices). The caller multiplies by the face mask, so an eye hidden behind
// the nose or outside the face leaves no mark.

uniform vec4 u_pupils;        // (x0, y0, x1, y1)
uniform vec2 u_pupil_valid;   // 1 per pupil that was found, 0 otherwise
uniform float u_eye_radius;

float eye_disk(vec2 pixel_centre) {
    float r2 = u_eye_radius * u_eye_radius;
    vec2 d0 = pixel_centre - u_pupils.xy;
    vec2 d1 = pixel_centre - u_pupils.zw;
    float e0 = u_pupil_valid.x * step(dot(d0, d0), r2);
    float e1 = u_pupil_valid.y * step(dot(d1, d1), r2);
    return max(e0, e1);
}
