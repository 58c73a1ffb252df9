// The photo app: sign in, upload (presigned POSTs, followed until processed), the library
// (newest first, by month, ThumbHash placeholders, srcset, infinite scroll), a photo's page,
// and erasing a photo or the whole account. Plain ES modules: four views and one list need no
// framework; esbuild bundles them with the two libraries (app/build.mjs).
import { thumbHashToDataURL } from 'thumbhash';
import { ApiError, createApi, postToS3 } from './api.js';
import { createAuth, SignInError } from './auth.js';

const $ = (id) => document.getElementById(id);
// Photos per page of the library (`?pageSize=N` asks for fewer or more: 1-100).
const PAGE_SIZE = Math.min(100, Math.max(1, Number(new URLSearchParams(location.search).get('pageSize')) || 24));
const FINAL = new Set(['processed', 'rejected', 'duplicate', 'failed']);
// Why the workflow rejects a file (handlers/core/images.py, heif.py, upload_status.py), in words.
const REASONS = {
  'not-an-image': 'it is not a picture',
  'not-a-jpeg': 'it is not a JPEG or HEIC photo',
  'jpeg-not-accepted': 'this stage does not take JPEG photos',
  'heif-not-accepted': 'this stage does not take HEIC photos',
  'avif-not-accepted': 'AVIF pictures are not accepted',
  'unsupported-jpeg': 'this kind of JPEG cannot be read',
  'unsupported-heif': 'this kind of HEIC cannot be read',
  'corrupt-image': 'the file is damaged',
  'empty-file': 'the file is empty',
  'too-many-pixels': 'the picture has too many pixels',
  'duplicate-of-another-users-photo': 'the same photo is already stored by another user',
};

let auth;
let api;
const state = { photos: [], byId: new Map(), cursor: null, loading: false, done: false, order: 'uploaded' };

// -- messages ----------------------------------------------------------------------------
function notify(message, kind = 'error') {
  $('notice-text').textContent = message;
  $('notice').dataset.kind = kind;
  $('notice').hidden = false;
}
function clearNotice() {
  $('notice').hidden = true;
}
function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    auth.signOut();
    showSignIn();
  }
  notify(error.message || String(error));
}

// -- formatting ----------------------------------------------------------------------------
const monthFormat = new Intl.DateTimeFormat(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const takenAt = (photo) => photo.capturedAt || null;
const sortTime = (photo) => (state.order === 'captured' ? photo.capturedAt : photo.uploadedAt) || photo.uploadedAt;
function when(iso) {
  if (!iso) return null;
  const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? iso : dateFormat.format(date);
}
// A capture time as the camera's clock showed it where it was taken (not converted to here).
const wallFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
function wallClock(iso) {
  if (!iso) return null;
  const date = new Date(`${iso.slice(0, 19)}Z`);
  return Number.isNaN(date.getTime()) ? iso : wallFormat.format(date);
}
function size(bytes) {
  if (!bytes) return null;
  return bytes < 1048576 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}
function altText(photo) {
  const taken = wallClock(takenAt(photo));
  return `${photo.fileName}${taken ? `, taken ${taken}` : `, uploaded ${when(photo.uploadedAt)}`}`;
}
function placeholder(photo) {
  if (!photo.thumbHash) return null;
  try {
    return thumbHashToDataURL(Uint8Array.from(atob(photo.thumbHash), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
}
function srcset(photo) {
  return (photo.renditions || []).map((r) => `${r.url} ${r.width}w`).join(', ');
}
/** An image over its ThumbHash, in a box of the photo's own proportions (no layout shift). */
function picture(photo, sizes, eager) {
  const box = document.createElement('div');
  box.className = 'picture';
  box.style.aspectRatio = `${photo.width || 4} / ${photo.height || 3}`;
  const hash = placeholder(photo);
  if (hash) box.style.backgroundImage = `url("${hash}")`;
  const image = document.createElement('img');
  image.alt = altText(photo);
  image.decoding = 'async';
  image.loading = eager ? 'eager' : 'lazy';
  image.width = photo.width || 4;
  image.height = photo.height || 3;
  const set = srcset(photo);
  if (set) {
    image.srcset = set;
    image.sizes = sizes;
  }
  image.src = photo.thumbnailUrl || photo.renditions?.[0]?.url || '';
  image.addEventListener('load', () => box.classList.add('loaded'), { once: true });
  box.append(image);
  return box;
}

// -- views -------------------------------------------------------------------------------------
function show(view) {
  for (const id of ['signin-view', 'library-view', 'photo-view']) $(id).hidden = id !== view;
}
function showSignIn() {
  $('account').hidden = true;
  $('account').open = false;
  show('signin-view');
  $('username').focus();
}

async function route() {
  if (!auth.username() || !(await auth.idToken())) return showSignIn();
  $('account').hidden = false;
  $('who').textContent = auth.username();
  const match = /^#\/photo\/([0-9a-f]{64})$/.exec(location.hash);
  if (match) return showPhoto(match[1]);
  show('library-view');
  document.title = 'Photos';
  if (!state.photos.length && !state.done) await loadMore();
  observeEnd();
}

// -- the library -------------------------------------------------------------------------------
function resetLibrary() {
  Object.assign(state, { photos: [], byId: new Map(), cursor: null, done: false });
  $('library').replaceChildren();
}

function monthSection(key) {
  let section = $('library').querySelector(`section[data-month="${key}"]`);
  if (section) return section.querySelector('ul');
  section = document.createElement('section');
  section.dataset.month = key;
  const heading = document.createElement('h2');
  heading.textContent = key === 'unknown' ? 'No capture time' : monthFormat.format(new Date(`${key}-01T00:00:00Z`));
  const list = document.createElement('ul');
  list.className = 'grid';
  section.append(heading, list);
  $('library').append(section);
  return list;
}

function tile(photo) {
  const item = document.createElement('li');
  item.dataset.id = photo.id;
  const link = document.createElement('a');
  link.href = `#/photo/${photo.id}`;
  link.className = 'tile';
  link.append(picture(photo, '(max-width: 600px) 50vw, 240px', false));
  item.append(link);
  return item;
}

function addPhotos(photos) {
  for (const photo of photos) {
    if (state.byId.has(photo.id)) continue;
    state.byId.set(photo.id, photo);
    state.photos.push(photo);
    monthSection((sortTime(photo) || 'unknown').slice(0, 7)).append(tile(photo));
  }
  $('empty').hidden = state.photos.length > 0 || !state.done;
}

async function loadMore() {
  if (state.loading || state.done) return;
  state.loading = true;
  $('loading').hidden = false;
  $('load-more').hidden = true;
  try {
    const page = await api.photos({ limit: PAGE_SIZE, cursor: state.cursor, order: state.order });
    state.cursor = page.cursor || null;
    state.done = !state.cursor;
    addPhotos(page.photos);
  } catch (error) {
    failed(error);
  } finally {
    state.loading = false;
    $('loading').hidden = true;
    $('load-more').hidden = state.done;
    $('empty').hidden = state.photos.length > 0 || !state.done;
    // Observed again: if the end is still in sight (a short page), the next page follows.
    if (endObserver && !state.done) {
      endObserver.unobserve($('more'));
      endObserver.observe($('more'));
    }
  }
}

let endObserver;
function observeEnd() {
  if (endObserver) return;
  endObserver = new IntersectionObserver(
    (entries) => entries.some((e) => e.isIntersecting) && !$('library-view').hidden && loadMore(),
    { rootMargin: '200px' },
  );
  endObserver.observe($('more'));
}

async function reloadLibrary() {
  resetLibrary();
  await loadMore();
}

// Arrow keys move between photos in the grid (reading order), as in a photo app.
function gridKeys(event) {
  if (!['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Home', 'End'].includes(event.key)) return;
  const tiles = [...$('library').querySelectorAll('a.tile')];
  const at = tiles.indexOf(document.activeElement);
  if (at < 0) return;
  const columns = Math.max(1, Math.round($('library').querySelector('.grid').clientWidth / tiles[0].offsetWidth));
  const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns }[event.key];
  const to = event.key === 'Home' ? 0 : event.key === 'End' ? tiles.length - 1 : at + step;
  if (tiles[to]) {
    event.preventDefault();
    tiles[to].focus();
  }
}

// -- uploads -----------------------------------------------------------------------------------
function uploadRow(file) {
  const row = document.createElement('li');
  row.innerHTML = '<span class="name"></span><progress max="1" value="0"></progress><span class="status"></span>';
  row.querySelector('.name').textContent = file.name;
  row.querySelector('progress').setAttribute('aria-label', `Upload of ${file.name}`);
  $('upload-list').prepend(row);
  $('uploads').hidden = false;
  const status = row.querySelector('.status');
  return {
    progress: (fraction) => (row.querySelector('progress').value = fraction),
    status: (text, kind, link) => {
      row.dataset.state = kind;
      status.textContent = text;
      if (link) {
        const anchor = document.createElement('a');
        anchor.href = `#/photo/${link.id}`;
        anchor.textContent = link.text;
        status.append(' ', anchor);
      }
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function follow(uploadId, row) {
  let wait = 700;
  for (;;) {
    const found = await api.upload(uploadId).catch((error) => {
      if (error.status === 404 || error.status === 429 || error.status === 0) return null; // not yet, or busy
      throw error;
    });
    if (found && FINAL.has(found.status)) return found;
    row.status(found?.status === 'processing' ? 'Processing…' : 'Waiting…', 'working');
    await sleep(wait);
    wait = Math.min(wait * 1.5, 4000);
  }
}

async function uploadOne(file) {
  const row = uploadRow(file);
  try {
    row.status('Uploading…', 'working');
    const presigned = await api.presign(file.name);
    await postToS3(presigned.upload, file, row.progress);
    row.progress(1);
    row.status('Waiting…', 'working');
    const outcome = await follow(presigned.uploadId, row);
    if (outcome.status === 'processed') {
      row.status('Processed', 'done', { id: outcome.photoId, text: 'Open' });
      return true;
    }
    if (outcome.status === 'duplicate') {
      row.status('Already in your library:', 'duplicate', { id: outcome.duplicateOf, text: 'see the photo' });
    } else if (outcome.status === 'rejected') {
      row.status(`Rejected: ${REASONS[outcome.reason] || outcome.reason || 'not a photo this app accepts'}`, 'error');
    } else {
      row.status(`Failed: ${outcome.reason || 'processing failed'}. It will be retried.`, 'error');
    }
  } catch (error) {
    row.status(error.message || String(error), 'error');
    if (error instanceof ApiError && error.status === 401) failed(error);
  }
  return false;
}

async function uploadAll(files) {
  const photos = [...files].filter((file) => file.size > 0);
  if (!photos.length) return;
  clearNotice();
  const results = await Promise.all(photos.map(uploadOne));
  if (results.some(Boolean)) await reloadLibrary();
}

// -- a photo's page ----------------------------------------------------------------------------
async function showPhoto(id) {
  show('photo-view');
  let photo;
  try {
    photo = await api.photo(id);
  } catch (error) {
    failed(error);
    location.hash = '#/';
    return;
  }
  document.title = `${photo.fileName} – Photos`;
  $('photo-title').textContent = photo.fileName;
  const frame = $('photo-frame');
  frame.replaceChildren(picture(photo, '(max-width: 900px) 100vw, 66vw', true));
  const rows = [
    ['Taken', wallClock(photo.capturedAt) || 'Unknown (no capture time in the file)'],
    ['Uploaded', when(photo.uploadedAt)],
    ['Camera', [photo.cameraMake, photo.cameraModel].filter(Boolean).join(' ') || 'Unknown'],
    ['Lens', photo.lens],
    ['Dimensions', photo.width && photo.height ? `${photo.width} × ${photo.height} pixels` : null],
    ['File size', size(photo.bytes)],
    ['Location', photo.hadLocation ? 'Had a location (not kept)' : 'None'],
  ];
  $('photo-details').replaceChildren(
    ...rows.filter(([, value]) => value).flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = term;
      dd.textContent = value;
      return [dt, dd];
    }),
  );
  const similar = $('photo-similar');
  similar.hidden = !photo.nearDuplicateOf;
  if (photo.nearDuplicateOf) {
    similar.replaceChildren('Nearly the same as ');
    const link = document.createElement('a');
    link.href = `#/photo/${photo.nearDuplicateOf}`;
    link.textContent = 'another of your photos';
    similar.append(link, '.');
  }
  $('download').href = photo.downloads?.original || '#';
  $('download').setAttribute('download', photo.fileName);
  $('delete-photo').dataset.id = photo.id;
  const at = state.photos.findIndex((p) => p.id === id);
  for (const [link, other] of [['previous', state.photos[at - 1]], ['next', state.photos[at + 1]]]) {
    $(link).hidden = at < 0 || !other;
    if (other) $(link).href = `#/photo/${other.id}`;
  }
  $('photo-title').focus();
}

function confirmDialog(title, text, action) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

async function deletePhoto() {
  const id = $('delete-photo').dataset.id;
  const photo = state.byId.get(id);
  const name = photo?.fileName || $('photo-title').textContent;
  if (!(await confirmDialog('Delete this photo?', `${name} and every copy of it will be erased.`, 'Delete photo'))) return;
  try {
    await api.deletePhoto(id);
  } catch (error) {
    return failed(error);
  }
  state.photos = state.photos.filter((p) => p.id !== id);
  state.byId.delete(id);
  $('library').querySelector(`li[data-id="${id}"]`)?.remove();
  for (const list of $('library').querySelectorAll('ul.grid')) if (!list.children.length) list.parentElement.remove();
  notify(`${name} was deleted.`, 'info');
  location.hash = '#/';
}

async function deleteAccount() {
  const sure = await confirmDialog(
    'Delete your account?',
    'Every photo, every upload and your sign-in will be erased. This cannot be undone.',
    'Delete my account',
  );
  if (!sure) return;
  notify('Erasing your account…', 'info');
  try {
    for (let round = 0; round < 50; round += 1) {
      const answer = await api.deleteMe();
      if (answer.done) break;
    }
  } catch (error) {
    return failed(error);
  }
  auth.signOut();
  resetLibrary();
  state.done = false;
  showSignIn();
  notify('Your account and all your photos were erased.', 'info');
}

// -- start -------------------------------------------------------------------------------------
async function start() {
  let config;
  try {
    config = await (await fetch('config.json', { cache: 'no-cache' })).json();
  } catch {
    notify('The app is not configured for this stage (config.json is missing): deploy it again.');
    return;
  }
  if (config.cognitoEndpoint) {
    // The local cloud: say how to make a user (docs/app.md).
    $('signin-hint').textContent =
      'On the local cloud, make a user with: python -m localcloud token NAME --password PASSWORD';
  }
  auth = createAuth(config);
  api = createApi(config.apiUrl, () => auth.idToken());

  $('signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    clearNotice();
    $('signin-submit').disabled = true;
    try {
      await auth.signIn($('username').value.trim(), $('password').value);
      $('password').value = '';
      resetLibrary();
      await route();
      $('main').focus();
    } catch (error) {
      notify(error instanceof SignInError ? error.message : String(error));
    } finally {
      $('signin-submit').disabled = false;
    }
  });
  $('sign-out').addEventListener('click', () => {
    $('account').open = false;
    auth.signOut();
    resetLibrary();
    clearNotice();
    showSignIn();
  });
  $('delete-account').addEventListener('click', () => {
    $('account').open = false;
    deleteAccount();
  });
  $('delete-photo').addEventListener('click', deletePhoto);
  $('notice-close').addEventListener('click', clearNotice);
  $('load-more').addEventListener('click', loadMore);
  $('order').addEventListener('change', () => {
    state.order = $('order').value;
    reloadLibrary();
  });
  $('file-input').addEventListener('change', (event) => {
    uploadAll(event.target.files);
    event.target.value = '';
  });
  $('library').addEventListener('keydown', gridKeys);
  document.addEventListener('keydown', (event) => {
    if ($('photo-view').hidden || $('confirm').open || event.target.matches('input, select, textarea')) return;
    if (event.key === 'Escape') location.hash = '#/';
    if (event.key === 'ArrowLeft' && !$('previous').hidden) location.hash = $('previous').hash;
    if (event.key === 'ArrowRight' && !$('next').hidden) location.hash = $('next').hash;
  });
  // Dropping photos anywhere on the page uploads them (while signed in).
  document.addEventListener('dragover', (event) => {
    if (!$('account').hidden) {
      event.preventDefault();
      document.body.classList.add('dropping');
    }
  });
  document.addEventListener('dragleave', (event) => {
    if (!event.relatedTarget) document.body.classList.remove('dropping');
  });
  document.addEventListener('drop', (event) => {
    document.body.classList.remove('dropping');
    if ($('account').hidden) return;
    event.preventDefault();
    show('library-view');
    if (location.hash.startsWith('#/photo/')) location.hash = '#/';
    uploadAll(event.dataTransfer.files);
  });
  window.addEventListener('hashchange', () => route().catch(failed));
  await route();
}

start().catch((error) => notify(String(error)));
