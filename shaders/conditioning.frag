#version 330 core
// Attachment 0: (NMFC r, g, b, face mask); attachment 1: (shade, eye, mouth mask, coverage).
// Masks are the per-vertex flags interpolated and cut at 0.5, so a mask edge runs half-way
// across the triangles that straddle it.
#include "shade.glsl"
#include "eyes.glsl"

uniform bool u_restrict_to_face;  // blank NMFC and shape outside the face mask

noperspective in vec3 v_nmfc;
noperspective in vec3 v_normal;
noperspective in float v_face;
noperspective in float v_mouth;
noperspective in vec2 v_uv;
noperspective in float v_depth;

layout(location = 0) out vec4 o_nmfc_face;
layout(location = 1) out vec4 o_shape_eye_mouth;

void main() {
    float face = step(0.5, v_face);
    float mouth = step(0.5, v_mouth);
    vec3 p = vec3(gl_FragCoord.xy, v_depth);
    float shade = shade_grey(surface_normal(v_normal, v_uv, p));
    float eye = face * eye_disk(gl_FragCoord.xy);
    float keep = u_restrict_to_face ? face : 1.0;
    o_nmfc_face = vec4(clamp(v_nmfc, 0.0, 1.0) * keep, face);
    o_shape_eye_mouth = vec4(shade * keep, eye, mouth, 1.0);
}
