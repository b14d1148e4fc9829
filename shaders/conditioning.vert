#version 330 core
// The conditioning pass: one draw per frame produces the NMFC colour, the grey-shaded normals,
// the eye disks and both masks (conditioning.frag).
#include "common.glsl"

uniform sampler2D u_frame_data;   // per vertex and frame: (x, y, z, 0), (nx, ny, nz, 0)
uniform sampler2D u_static_data;  // per vertex: (r, g, b, face), (mouth, u, v, 0)
uniform int u_n_vertices;
uniform int u_frame;

noperspective out vec3 v_nmfc;
noperspective out vec3 v_normal;
noperspective out float v_face;
noperspective out float v_mouth;
noperspective out vec2 v_uv;
noperspective out float v_depth;

void main() {
    int v = gl_VertexID;
    int f = (u_frame * u_n_vertices + v) * 2;
    vec3 p = fetch_texel(u_frame_data, f).xyz;
    v_normal = fetch_texel(u_frame_data, f + 1).xyz;
    vec4 s0 = fetch_texel(u_static_data, v * 2);
    vec4 s1 = fetch_texel(u_static_data, v * 2 + 1);
    v_nmfc = s0.rgb;
    v_face = s0.a;
    v_mouth = s1.x;
    v_uv = s1.yz;
    v_depth = p.z;
    gl_Position = pixel_to_clip(p);
}
