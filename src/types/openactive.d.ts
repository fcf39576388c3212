// Packages from OpenActive that ship no type declarations; we type what we use where we use it.
declare module '@openactive/skos';
declare module '@openactive/data-model-validator';
declare module '@openactive/rpde-validator';
